"""Data: pairs on disk, Albumentations presets, splits and loaders.

Names are imported on first use, so that ``personseg.data.geometry`` or
``personseg.data.dataset`` (what prediction needs) do not import Albumentations.
"""

from __future__ import annotations

from personseg._lazy import lazy_getattr

_EXPORTS = {
    "DataReport": "check",
    "check_data": "check",
    "check_negatives": "check",
    "Sample": "dataset",
    "SegmentationDataset": "dataset",
    "find_pairs": "dataset",
    "load_image": "dataset",
    "load_mask": "dataset",
    "load_pair": "dataset",
    "load_ignore": "dataset",
    "load_target": "dataset",
    "IGNORE_VALUE": "dataset",
    "import_labels": "formats",
    "make_loader": "splits",
    "read_split": "splits",
    "split_roots": "splits",
    "eval_transform": "transforms",
    "train_transform": "transforms",
    "letterbox": "geometry",
    "unletterbox": "geometry",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
