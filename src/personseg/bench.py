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

from personseg.checkpoint import ModelSpec
from personseg.config import ONNX_BACKENDS
from personseg.data import SegmentationDataset, load_image, make_loader, split_roots
from personseg.data import train_transform as train_preset
from personseg.device import Runtime
from personseg.engine.loop import train_one_epoch
from personseg.engine.state import grad_scaler
from personseg.inference.segmenter import Segmenter
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
    input_size: int = 256,
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
        cache_size = round(input_size * 1.25) if cache else None
        dataset: Dataset = SegmentationDataset(
            samples, train_preset(input_size, resize), cache_size
        )
    else:
        dataset = _Synthetic(input_size, max(64, batch_size * 4))
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
        "input_size": input_size,
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
    input_size: int = 256,
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
    spec = ModelSpec(model, input_size=input_size)
    if images is None:
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (480, 360, 3), dtype=np.uint8) for _ in range(16)]
    if backend in ONNX_BACKENDS:
        from personseg.export.onnx import export_model

        with tempfile.TemporaryDirectory() as tmp:
            export_model(net, spec, Path(tmp) / "m.onnx", check_images=images[:2])
            seg = Segmenter.load(Path(tmp) / "m.onnx", backend)
        precision = "fp32"
    elif backend == "torch":
        seg = Segmenter(
            net,
            spec,
            device=device,
            precision=precision,
            optimize=optimize,
        )
        precision = seg.rt.precision
    else:
        raise ValueError(f"backend must be torch, onnx or openvino, got {backend!r}")
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
        "input_size": input_size,
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


MOTIONS = ("still", "jitter", "pan", "zoom")


def synthetic_clip(
    image: np.ndarray,
    mask: np.ndarray,
    n_frames: int,
    motion: str,
    size: tuple[int, int] = (480, 640),
    noise: float = 4.0,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of a camera moving over a real photo, with the ground truth moved alike.

    The photo (RGB uint8) and its {0,1} mask are scaled to cover ``size`` (H, W) with a 20 %
    margin, then each frame is a crop that stays put (``still``), shakes by up to 1.5 px
    (``jitter``), slides across the margin (``pan``) or closes in by 20 % (``zoom``); every
    frame gets fresh Gaussian sensor noise of ``noise`` grey levels.

    Yields:
        (frame RGB uint8 (H, W, 3), mask uint8 {0,1} (H, W)).
    """
    import cv2

    from personseg.inference.effects import cover

    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
    h, w = size
    big_h, big_w = round(h * 1.2), round(w * 1.2)
    photo = cover(image, (big_h, big_w))
    truth = cover(mask.astype(np.uint8) * 255, (big_h, big_w))
    rng = np.random.default_rng(seed)
    for i in range(n_frames):
        t = i / max(n_frames - 1, 1)
        scale, dx, dy = 1.0, (big_w - w) / 2, (big_h - h) / 2
        if motion == "jitter":
            dx, dy = dx + rng.uniform(-1.5, 1.5), dy + rng.uniform(-1.5, 1.5)
        elif motion == "pan":
            dx = (big_w - w) * t
        elif motion == "zoom":
            scale = 1.0 + 0.2 * t
        # crop of size (h/scale, w/scale) centred at (cx, cy), resized to (h, w)
        cx, cy = dx + w / 2, dy + h / 2
        m = np.array([[scale, 0, w / 2 - scale * cx], [0, scale, h / 2 - scale * cy]], np.float32)
        frame = cv2.warpAffine(
            photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        gt = cv2.warpAffine(truth, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if noise > 0:
            frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
        yield frame, (gt > 127).astype(np.uint8)


def write_video(frames: Iterator[np.ndarray], path: str | Path, fps: float = 25.0) -> int:
    """Write RGB frames to an .mp4 (mp4v) or .avi (MJPG) file; returns the frame count."""
    import cv2

    path, writer, n = Path(path), None, 0
    fourcc = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    try:
        for frame in frames:
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    return n
