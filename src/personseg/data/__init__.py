"""Data: pairs on disk, Albumentations presets, splits and loaders."""

from personseg.data.check import DataReport, check_data, check_negatives
from personseg.data.dataset import (
    Sample,
    SegmentationDataset,
    find_pairs,
    load_image,
    load_mask,
    load_pair,
)
from personseg.data.splits import make_loader, read_split, split_roots
from personseg.data.transforms import eval_transform, letterbox, train_transform, unletterbox

__all__ = [
    "DataReport",
    "Sample",
    "SegmentationDataset",
    "check_data",
    "check_negatives",
    "eval_transform",
    "find_pairs",
    "letterbox",
    "load_image",
    "load_mask",
    "load_pair",
    "make_loader",
    "read_split",
    "split_roots",
    "train_transform",
    "unletterbox",
]
