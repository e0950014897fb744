"""The runtime layer's model file: a typed :class:`ModelSpec` beside the state_dict.

A checkpoint holds ``format``, ``spec`` (:meth:`ModelSpec.to_dict`), ``state_dict``,
``metrics``, ``epoch`` and ``config``; a training run's ``last.pt`` adds ``training`` (optimizer,
scheduler, scaler, RNG states, history, best score). Everything is plain Python or tensors, so
``torch.load(weights_only=True)`` reads it. Files of the first format (the spec's fields at the
top level, as the bundled model until 2026-11-26 and users' runs were written) still load.

The model is rebuilt from its spec in one place, :meth:`ModelSpec.build`.
"""

from __future__ import annotations

import os
import platform
import uuid
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from personseg._version import __version__
from personseg.config import IMAGENET_MEAN, IMAGENET_STD, RESIZES
from personseg.models import create_model, size_divisor

FORMAT = "personseg-checkpoint-v2"
FORMAT_V1 = "personseg-checkpoint-v1"  # spec fields at the top level; read, never written
# names that mean a model shipped inside the package: its .pt, and the ONNX file that
# --backend onnx / openvino run (the default's int8; the fast model stays fp32: int8 is slower
# for a network this small, docs/benchmarks.md)
BUNDLED = {"default": "person-default", "fast": "person-fast"}
BUNDLED_ONNX = {"default": "person-default-int8.onnx", "fast": "person-fast.onnx"}
DEFAULT_MODEL = "default"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def versions() -> dict[str, str]:
    return {
        "personseg": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model and feed it: the registered architecture and its
    arguments, the input size and how images are resized to it, the normalisation, the
    probability threshold, and the size divisor (asked of the architecture)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: int = 256
    resize: str = "letterbox"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    threshold: float = 0.5
    divisor: int = 0  # 0: asked of the registered architecture
    versions: dict[str, str] = field(default_factory=versions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if not self.divisor:
            object.__setattr__(self, "divisor", size_divisor(self.name))
        if self.resize not in RESIZES:
            raise ValueError(f"resize must be one of {RESIZES}, got {self.resize!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        self.check_input_size(self.input_size)

    def check_input_size(self, size: int) -> int:
        """``size`` if this model takes it (a positive multiple of the divisor), else a
        ValueError saying which sizes work."""
        d = self.divisor
        if size < d or size % d:
            near = max(d, round(size / d) * d)
            raise ValueError(
                f"input size must be a positive multiple of {d} for {self.name}, got {size}; "
                f"try {near}"
            )
        return size

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes`` (checked like a new spec)."""
        return replace(self, **changes)

    def build(self) -> nn.Module:
        """The architecture with untrained weights; a pretrained encoder is built empty (the
        checkpoint holds all the weights)."""
        kwargs = dict(self.kwargs)
        if "pretrained" in kwargs:
            kwargs["pretrained"] = False
        return create_model(self.name, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        return cls(**values)


@dataclass
class Checkpoint:
    """A model's spec and weights, what it scored, and (``last.pt``) the training state."""

    spec: ModelSpec
    state_dict: dict[str, torch.Tensor]
    metrics: dict[str, float] = field(default_factory=dict)
    epoch: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def model(self) -> nn.Module:
        """The model rebuilt from the spec with these weights, in eval mode."""
        model = self.spec.build()
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format": FORMAT,
            "spec": self.spec.to_dict(),
            "state_dict": self.state_dict,
            "metrics": self.metrics,
            "epoch": self.epoch,
            "config": self.config,
        }
        return out | ({"training": self.training} if self.training else {})

    def save(self, path: str | Path) -> None:
        atomic_save(self.to_dict(), path)


def bundled_checkpoint(name: str = DEFAULT_MODEL) -> Path:
    """The ``.pt`` of a model shipped with personseg (see MODEL_CARD.md)."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled model named {name!r}; bundled: {', '.join(BUNDLED)}")
    path = WEIGHTS_DIR / f"{BUNDLED[name]}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundled {name} model is missing ({path}); reinstall personseg, or train one "
            "(configs/person-base.yaml, then configs/person-default.yaml; MODEL_CARD.md) and "
            "pass --model"
        )
    return path


def bundled_onnx(name: str = DEFAULT_MODEL) -> Path:
    """A bundled model's ONNX file (the default's int8, the fast model's fp32; MODEL_CARD.md)."""
    path = bundled_checkpoint(name).with_name(BUNDLED_ONNX[name])
    if not path.is_file():
        raise FileNotFoundError(f"the bundled ONNX model is missing ({path}); reinstall personseg")
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A bundled name (``default``) → its ``.pt``; a run directory → its ``best.pt``; else the
    path itself."""
    if str(path) in BUNDLED:
        return bundled_checkpoint(str(path))
    path = Path(path)
    return path / "best.pt" if path.is_dir() else path


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, flushed to disk, then renamed
    over ``path``: a crash or power cut leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # mode 0o666 less the umask, as a plain open() gives (mkstemp would make it private)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _spec_v1(raw: dict[str, Any]) -> ModelSpec:
    """The spec of a first-format checkpoint, whose fields sit at the top level."""
    norm = raw["normalization"]
    return ModelSpec(
        name=raw["model"]["name"],
        kwargs=raw["model"]["kwargs"],
        input_size=raw["input_size"],
        resize=raw.get("resize", "letterbox"),
        mean=norm["mean"],
        std=norm["std"],
        threshold=raw["threshold"],
        versions=raw.get("versions", {}),
    )


TRAINING_KEYS_V1 = (
    "optimizer",
    "scheduler",
    "scaler",
    "rng",
    "history",
    "best_score",
    "best_epoch",
)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a personseg checkpoint with ``weights_only=True``; a wrong file is a ValueError.

    ``path`` may be a bundled name (``default``) or a run directory (its ``best.pt``).
    """
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling arbitrary bytes can fail with any error type
        if not zipfile.is_zipfile(path):
            reason = "not a file torch.save wrote"
        elif "weights only" in str(err).lower():
            reason = "it holds objects that safe loading (weights_only=True) refuses"
        else:
            reason = f"{type(err).__name__} while reading it: damaged or cut short?"
        raise ValueError(
            f"{path} is not a readable personseg checkpoint ({reason}); "
            f"pass a best.pt or last.pt written by `personseg train`"
        ) from None
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if fmt not in (FORMAT, FORMAT_V1):
        raise ValueError(
            f"{path} was not written by `personseg train` (no {FORMAT!r} marker); "
            f"pass a best.pt or last.pt from a personseg run directory"
        )
    if fmt == FORMAT_V1:
        spec = _spec_v1(raw)
        training = {k: raw[k] for k in TRAINING_KEYS_V1 if k in raw}
    else:
        spec, training = ModelSpec.from_dict(raw["spec"]), raw.get("training", {})
    return Checkpoint(
        spec=spec,
        state_dict=raw["state_dict"],
        metrics=raw.get("metrics", {}),
        epoch=raw.get("epoch", 0),
        config=raw.get("config", {}),
        training=training,
    )
