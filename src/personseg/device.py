"""Where and how a model runs: device, numeric precision, memory format.

``auto`` precision means bf16 autocast on CPUs with native bf16 (AVX-512 BF16 or AMX) and on
CUDA GPUs that support it, fp16 on older CUDA GPUs, fp32 elsewhere. Losses and metrics are
always computed in fp32. Used by training and prediction alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from personseg.config import PRECISIONS

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} asked for, but no CUDA GPU is available; use --device cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (Linux: AVX-512 BF16 or AMX flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` → the fastest safe choice for ``device``; others are checked and returned."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors run: device, resolved precision, memory format."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False

    @classmethod
    def create(
        cls, device: str = "auto", precision: str = "auto", channels_last: bool = True
    ) -> Runtime:
        dev = resolve_device(device)
        return cls(dev, resolve_precision(precision, dev), channels_last)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.precision)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A ``(N, 3, H, W)`` batch on the device in the chosen memory format."""
        return x.to(self.device, memory_format=self.memory_format, non_blocking=True)

    def prepare(self, model: nn.Module) -> nn.Module:
        return model.to(self.device, memory_format=self.memory_format)
