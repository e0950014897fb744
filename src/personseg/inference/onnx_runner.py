"""Run an exported personseg ONNX model on ONNX Runtime (CPU, or CUDA when available)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from personseg.checkpoint import ModelSpec

METADATA_KEY = "personseg"


def spec_from_metadata(meta: dict[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` in an exported model's metadata (``spec``), or rebuilt from the
    flat keys files exported before 2026-11-26 carry."""
    if "spec" in meta:
        return ModelSpec.from_dict(meta["spec"])
    return ModelSpec(
        name=meta["model"],
        kwargs=meta.get("kwargs", {}),
        input_size=meta["input_size"],
        resize=meta.get("resize", "letterbox"),
        mean=meta["mean"],
        std=meta["std"],
        threshold=meta["threshold"],
        versions={"personseg": meta.get("personseg", "")},
    )


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise ValueError(
            "ONNX Runtime is not installed: pip install 'personseg[onnx]' (or onnxruntime)"
        ) from None
    return onnxruntime


def execution_providers(device: str, available: list[str]) -> list[Any]:
    """ONNX Runtime's providers for ``--device``: ``auto`` prefers CUDA when this ONNX Runtime
    has it, ``cpu`` never uses it, ``cuda``/``cuda:N`` needs it."""
    cpu = ["CPUExecutionProvider"]
    if device == "cpu":
        return cpu
    if device == "auto":
        return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + cpu
    kind, _, index = device.partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise ValueError(f"ONNX Runtime runs on 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if "CUDAExecutionProvider" not in available:
        raise ValueError(
            f"device {device!r} asked for, but this ONNX Runtime has no CUDA support; use "
            "--device cpu, or install onnxruntime-gpu"
        )
    return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), *cpu]


class OrtRunner:
    """Callable: normalised float32 ``(N, 3, S, S)`` → logits ``(N, 1, S, S)``."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, device: str = "auto"):
        ort = _ort()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: the pre- and post-processing between
        # runs (OpenCV, NumPy) needs the cores (measured: 23 -> 17 ms per photo on 2 cores).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = execution_providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as err:  # ORT raises its own exception types for bad files
            raise ValueError(f"{path} is not a loadable ONNX model ({err})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ValueError(
                f"{path} was not exported by `personseg export` (no metadata); "
                f"export the checkpoint with personseg export"
            )
        self.metadata: dict[str, Any] = json.loads(props[METADATA_KEY])
        self.spec = spec_from_metadata(self.metadata)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch)})[0]
