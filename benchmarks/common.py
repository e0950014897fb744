"""Helpers shared by the benchmark scripts: machine description and result files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from personseg.device import cpu_has_bf16

DEFAULT_DATA = ["../shared/data/ccp", "../shared/data/humanseg290"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, native bf16 {'yes' if cpu_has_bf16() else 'no'}, "
        f"{gpu}, torch {torch.__version__}"
    )


def load_segmenter(model: str, backend: str = "auto"):
    """``Segmenter.load``, exporting a ``.pt`` to ONNX first for ``backend="onnx"`` (as the
    CLI does; the Segmenter itself never exports)."""
    from personseg.export import model_for_backend
    from personseg.inference.segmenter import Segmenter

    return Segmenter.load(model_for_backend(model, backend), backend)


def marked_shares(seg, files) -> list[float]:
    """For each photo file, the share of its pixels the segmenter marks as person."""
    from personseg.data import load_image

    return [float((seg.predict(load_image(f)) > seg.threshold).mean()) for f in files]


def median_ms(seg, image: np.ndarray, calls: int) -> float:
    """Median ms of ``calls`` single-photo predictions, after one warm-up call."""
    seg.predict(image)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        seg.predict(image)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def interleaved_latency(
    models: dict, photos: dict[str, np.ndarray], rounds: int, calls: int
) -> dict[str, dict[str, dict]]:
    """Per model and photo: the median over ``rounds`` of :func:`median_ms` (``calls`` calls)
    and its range; each round times every model on every photo, the model order reversed
    every other round, so that machine drift hits all alike."""
    times = {m: {c: [] for c in photos} for m in models}
    for r in range(rounds):
        for name, seg in list(models.items())[:: 1 if r % 2 == 0 else -1]:
            for case, photo in photos.items():
                times[name][case].append(median_ms(seg, photo, calls))
    return {
        name: {
            case: {"ms": float(np.median(v)), "range": [float(min(v)), float(max(v))]}
            for case, v in per_case.items()
        }
        for name, per_case in times.items()
    }


def save(results: dict, path: str | None) -> None:
    results = {"date": date.today().isoformat(), "machine": machine(), **results}
    text = json.dumps(results, indent=2)
    print(text)
    if path:
        Path(path).write_text(text)


def parser(doc: str, model: str = "unet", input_size: int = 256) -> argparse.ArgumentParser:
    """The options every speed benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", nargs="+", default=DEFAULT_DATA)
    p.add_argument("--model", default=model)
    p.add_argument("--input-size", type=int, default=input_size)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--json", help="also write the results here")
    return p
