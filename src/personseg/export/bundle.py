"""A slim checkpoint for shipping: the weights (matrices and kernels in float16) and what is
needed to use them; no optimizer, scheduler or training history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from personseg.checkpoint import Checkpoint, load_checkpoint


def slim_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    half: bool = True,
    resize: str | None = None,
    input_size: int | None = None,
) -> dict[str, Any]:
    """Write ``out``, a slim copy of ``checkpoint``, and check that it predicts alike.

    With ``half``, weights of 2 or more dimensions are stored as float16 (they are loaded back
    into float32 models); biases and BatchNorm statistics stay float32. ``resize`` sets how
    the shipped model resizes images at prediction and ``input_size`` the size it resizes
    them to (defaults: as it was trained).

    Returns:
        ``path``, ``size_mb`` and ``max_abs_diff``: the largest probability difference between
        the slim and the full model on a fixed random batch.
    """
    ckpt = load_checkpoint(checkpoint)
    state = {
        k: v.half() if half and v.is_floating_point() and v.ndim >= 2 else v
        for k, v in ckpt.state_dict.items()
    }
    changes = {"resize": resize, "input_size": input_size}
    spec = ckpt.spec.replace(**{k: v for k, v in changes.items() if v is not None})
    slim = Checkpoint(spec, state, ckpt.metrics, ckpt.epoch, ckpt.config)
    full, small = ckpt.model(), slim.model()
    size = ckpt.spec.input_size
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (full(x).sigmoid() - small(x).sigmoid()).abs().max().item()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    slim.save(out)
    return {"path": str(out), "size_mb": out.stat().st_size / 2**20, "max_abs_diff": diff}
