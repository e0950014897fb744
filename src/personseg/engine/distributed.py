"""Device and process-group helpers; with no process group every call is the single-process
answer."""

from __future__ import annotations

import torch
import torch.distributed as dist


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} asked for, but no CUDA GPU is available; use --device cpu"
        )
    return torch.device(name)


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def is_main_process() -> bool:
    """True on the process that writes files, logs and shows progress bars."""
    return rank() == 0


def unwrap(model):
    """The bare model inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)
