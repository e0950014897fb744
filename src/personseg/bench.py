"""Speed measurements behind ``personseg bench`` and the scripts in ``benchmarks/``.

``bench_train`` times real training steps end to end (data loader included) after a warm-up;
``bench_predict`` times :class:`Segmenter` on decoded images (pre- and post-processing included,
file decoding excluded). Models have random weights: speed does not depend on them.
"""

from __future__ import annotations

import itertools
import resource
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from personseg.config import IMAGENET_MEAN, IMAGENET_STD
from personseg.data import SegmentationDataset, load_image, make_loader, split_roots
from personseg.data import train_transform as train_preset
from personseg.engine.amp import Runtime, grad_scaler
from personseg.engine.trainer import train_one_epoch
from personseg.inference import Segmenter
from personseg.losses import CombinedLoss
from personseg.models import create_model


class _Synthetic(Dataset):
    """Random normalised images with a square 'person' (no data folder needed)."""

    def __init__(self, size: int, n: int = 64):
        self.size, self.n = size, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        g = torch.Generator().manual_seed(i)
        mask = torch.zeros(1, self.size, self.size)
        mask[:, self.size // 4 : 3 * self.size // 4, self.size // 3 : 2 * self.size // 3] = 1
        return torch.randn(3, self.size, self.size, generator=g), mask, i


def _forever(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory on CUDA, else the peak resident memory of this process (Linux: KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_train(
    model: str = "unet",
    img_size: int = 256,
    batch_size: int = 8,
    precision: str = "auto",
    steps: int = 10,
    warmup: int = 2,
    data_roots: Sequence[str | Path] = (),
    channels_last: bool = True,
    cache: bool = True,
    resize: str = "letterbox",
    workers: int = -1,
    device: str = "auto",
) -> dict[str, Any]:
    """Training images/s over ``steps`` steps after ``warmup`` steps (loader included)."""
    rt = Runtime.create(device, precision, channels_last)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    if data_roots:
        samples, _ = split_roots(data_roots)
        cache_size = round(img_size * 1.25) if cache else None
        dataset: Dataset = SegmentationDataset(samples, train_preset(img_size, resize), cache_size)
    else:
        dataset = _Synthetic(img_size, max(64, batch_size * 4))
    batches = _forever(make_loader(dataset, batch_size, train=True, workers=workers))
    net = rt.prepare(create_model(model))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    args = (CombinedLoss(), optimizer, rt, grad_scaler(rt.device, rt.precision))
    train_one_epoch(net, itertools.islice(batches, warmup), *args, desc="warm-up")
    setup_s = time.perf_counter() - t0
    r = train_one_epoch(net, itertools.islice(batches, steps), *args, desc="bench train")
    return {
        "task": "train",
        "model": model,
        "img_size": img_size,
        "batch_size": batch_size,
        "precision": rt.precision,
        "channels_last": channels_last,
        "cache": cache,
        "data": "real" if data_roots else "synthetic",
        "steps": steps,
        "images_per_s": r["images_per_s"],
        "data_wait": r["data_wait"],
        "setup_s": setup_s,
        "peak_memory_mb": peak_memory_mb(rt.device),
        "threads": torch.get_num_threads(),
        "device": str(rt.device),
    }


def bench_predict(
    model: str = "unet",
    img_size: int = 256,
    batch_size: int = 8,
    precision: str = "auto",
    backend: str = "torch",
    images: Sequence[np.ndarray] | None = None,
    repeats: int = 3,
    device: str = "auto",
    optimize: bool = True,
) -> dict[str, Any]:
    """Milliseconds per image through :class:`Segmenter` (best of ``repeats`` passes)."""
    torch.manual_seed(0)
    net = create_model(model).eval()
    if images is None:
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (480, 360, 3), dtype=np.uint8) for _ in range(16)]
    if backend == "onnx":
        from personseg.export.onnx import export_model

        meta = {
            "model": {"name": model, "kwargs": {}},
            "input_size": img_size,
            "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "threshold": 0.5,
            "resize": "letterbox",
        }
        with tempfile.TemporaryDirectory() as tmp:
            export_model(net, meta, Path(tmp) / "m.onnx", check_images=images[:2])
            seg = Segmenter.from_checkpoint(Path(tmp) / "m.onnx")
        precision = "fp32"
    elif backend == "torch":
        seg = Segmenter(
            net,
            img_size,
            IMAGENET_MEAN,
            IMAGENET_STD,
            device=device,
            precision=precision,
            optimize=optimize,
        )
        precision = seg.rt.precision
    else:
        raise ValueError(f"backend must be torch or onnx, got {backend!r}")
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    seg.predict_batch(batches[0])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            seg.predict_batch(b)
        best = min(best, time.perf_counter() - t0)
    return {
        "task": "predict",
        "model": model,
        "img_size": img_size,
        "batch_size": batch_size,
        "optimized": optimize and backend == "torch",
        "backend": backend,
        "precision": precision,
        "n_images": len(images),
        "ms_per_image": 1000 * best / len(images),
        "threads": torch.get_num_threads(),
        "peak_memory_mb": peak_memory_mb(torch.device("cpu")),
    }


def real_images(roots: Sequence[str | Path], n: int) -> list[np.ndarray]:
    """The first ``n`` validation images of the given data roots, decoded."""
    _, val = split_roots(roots)
    return [load_image(s.image) for s in val[:n]]
