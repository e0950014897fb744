"""What the page's in-browser mode runs: the bundled fast model's ONNX file and the numbers its
JavaScript (``serve/static/browser.js``) needs to prepare inputs and finish maps as
:class:`~personseg.inference.segmenter.Segmenter` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from personseg.checkpoint import bundled_onnx, load_checkpoint
from personseg.inference.effects import GUIDE_SIZE
from personseg.inference.segmenter import MIN_FIT_SIZE

BROWSER_MODEL = "fast"


def browser_model(name: str = BROWSER_MODEL) -> tuple[Path, dict[str, Any]]:
    """The bundled model ``name``'s ONNX file and its spec for the page (JSON-ready).

    The page reproduces the ``fit`` resize only: a model trained on another is refused."""
    spec = load_checkpoint(name).spec
    if spec.resize != "fit":
        raise ValueError(f"the page runs 'fit' models only; {name} takes {spec.resize!r} inputs")
    info = {
        "name": name,
        "architecture": spec.name,
        "input_size": spec.input_size,
        "divisor": spec.divisor,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "threshold": spec.threshold,
        "min_fit_size": MIN_FIT_SIZE,
        "guide_size": GUIDE_SIZE,
    }
    return bundled_onnx(name), info
