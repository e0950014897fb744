"""Device and process-group helpers for torchrun / DistributedDataParallel.

With no process group every helper gives the single-process answer, so the training loop is
the same code in both cases. One process per GPU (device from ``LOCAL_RANK``, NCCL) or per CPU
share (Gloo).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from personseg.device import resolve_device


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: str = "auto") -> str:
    """Join the torchrun process group if there is one; returns the device this rank uses.

    NCCL and ``cuda:LOCAL_RANK`` when CUDA is used, Gloo on the CPU.
    """
    if not launched_by_torchrun():
        return device
    use_cuda = resolve_device(device).type == "cuda"
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not is_dist():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return device


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main_process() -> bool:
    """True on the process that writes files, logs and shows progress bars."""
    return rank() == 0


def unwrap(model):
    """The bare model inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)


def gather_rows(rows: np.ndarray) -> np.ndarray:
    """Concatenate every rank's ``(n_r, k)`` array (rank order); the array itself alone."""
    if not is_dist():
        return rows
    parts: list[np.ndarray | None] = [None] * world_size()
    dist.all_gather_object(parts, rows)
    return np.concatenate(parts)


def sum_across(values: list[float]) -> list[float]:
    """Element-wise sum over ranks (float64)."""
    if not is_dist():
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    return sum_across([float(flag)])[0] > 0


def backend() -> str:
    return str(dist.get_backend()) if is_dist() else "none"


def close_distributed(wait: bool = False) -> None:
    """Leave the process group (end of a torchrun job).

    ``wait`` first waits for every rank, so none tears its connections down while another
    still uses them (Gloo aborts a process whose peer vanished). Pass it on success only: a
    rank that failed never arrives, and torchrun stops the others.
    """
    if is_dist():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics). DDP broadcasts them at
    the start of each forward, so after an epoch the other ranks are one step behind."""
    if is_dist():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
