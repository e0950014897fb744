"""Inference: the Segmenter and the predict / evaluate functions built on it.

Names are imported on first use, so that ``from personseg import Segmenter`` loads neither
matplotlib (figures) nor tqdm (video progress).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Segmenter": "segmenter",
    "collect_inputs": "run",
    "evaluate_samples": "run",
    "predict_files": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
