"""Checkpoints: the state_dict beside everything needed to rebuild and use the model.

Keys: ``format``, ``model`` (``name``, ``kwargs``), ``state_dict``, ``input_size``, ``resize``,
``normalization`` (``mean``, ``std``), ``threshold``, ``metrics``, ``epoch``, ``versions``,
``config``; ``last.pt`` adds ``optimizer``, ``scheduler``, ``scaler``, ``rng``, ``history``,
``best_score``, ``best_epoch``.
Everything is plain Python or tensors, so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import os
import platform
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from personseg.models import create_model

FORMAT = "personseg-checkpoint-v1"
DEFAULT_MODEL = "default"  # the name that means the model shipped inside the package


def bundled_checkpoint() -> Path:
    """The default model shipped with personseg (see MODEL_CARD.md)."""
    path = Path(__file__).resolve().parents[1] / "weights" / "person-default.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundled default model is missing ({path}); reinstall personseg, or train one "
            "(configs/person-base.yaml, then configs/person-default.yaml; MODEL_CARD.md) and "
            "pass --model"
        )
    return path


def bundled_onnx() -> Path:
    """The default model as int8 ONNX (the fast path; see MODEL_CARD.md)."""
    path = bundled_checkpoint().with_name("person-default-int8.onnx")
    if not path.is_file():
        raise FileNotFoundError(f"the bundled ONNX model is missing ({path}); reinstall personseg")
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """``default`` → the bundled model; a run directory → its ``best.pt``; else the path."""
    if str(path) == DEFAULT_MODEL:
        return bundled_checkpoint()
    path = Path(path)
    return path / "best.pt" if path.is_dir() else path


def versions() -> dict[str, str]:
    from personseg import __version__

    return {
        "personseg": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would (mkstemp makes it private)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a personseg checkpoint with ``weights_only=True``; a wrong file is a ValueError.

    ``path`` may be ``default`` (the bundled model) or a run directory (its ``best.pt``).
    """
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling arbitrary bytes can fail with any error type
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        raise ValueError(
            f"{path} is not a readable personseg checkpoint ({reason}); "
            f"pass a best.pt or last.pt written by `personseg train`"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(
            f"{path} was not written by `personseg train` (no {FORMAT!r} marker); "
            f"pass a best.pt or last.pt from a personseg run directory"
        )
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the architecture the checkpoint names and load its weights (eval mode).

    A pretrained encoder is built empty: the checkpoint holds all the weights.
    """
    kwargs = dict(ckpt["model"]["kwargs"])
    if "pretrained" in kwargs:
        kwargs["pretrained"] = False
    model = create_model(ckpt["model"]["name"], **kwargs)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states in weights_only-safe types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(tuple(_tuples(state["python"])))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
