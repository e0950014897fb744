"""Inference: the Segmenter and the predict / evaluate functions built on it.

Names are imported on first use, so that ``from personseg import Segmenter`` loads neither
matplotlib (figures) nor tqdm (video progress).
"""

from __future__ import annotations

from personseg._lazy import lazy_getattr

_EXPORTS = {
    "Segmenter": "segmenter",
    "collect_inputs": "run",
    "evaluate_samples": "run",
    "predict_files": "run",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
