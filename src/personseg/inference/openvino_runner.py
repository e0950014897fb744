"""Run an exported personseg ONNX model on OpenVINO (CPU).

OpenVINO reads the ``.onnx`` file written by ``personseg export`` (fp32, or the int8 QDQ file
shipped as the bundled model) directly, and keeps the file's ``personseg`` metadata entry in
the model's runtime info (``rt_info["framework"]``), so the ``onnx`` package is not needed
(OpenVINO's guides "Integrate OpenVINO with your application" and "Dynamic Shapes").

Input shapes: a model compiled for one static shape ran the default model 17-25 % faster than
the dynamic-shape model (2026-12-07, 2 cores, OpenVINO 2026.4.1: 5.5 vs 8.2 ms for a 256×256
photo, 16.6 vs 20.0 for a 550×830 one, whole ``predict``), but compiling it takes about 0.5 s,
and ``fit`` gives photos of other aspect ratios other shapes (39 shapes among the 210
``objects`` val photos).
So every input runs on the dynamic-shape model, compiled once at load, until its shape has
been seen :data:`STATIC_AFTER` times (a video's frames, a server's camera): then that shape
gets its own model (at most :data:`MAX_STATIC` shapes).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from personseg.inference.onnx_runner import METADATA_KEY, spec_from_metadata

# A shape's own model costs ~0.5 s to compile and saves ~3 ms a call: it pays after ~150
# calls. A photo folder's shapes rarely reach 100 calls; a 25 frames/s video does in 4 s.
STATIC_AFTER = 100
MAX_STATIC = 8


def _ov():
    try:
        import openvino
    except ImportError:
        raise ValueError("OpenVINO is not installed: pip install 'personseg[openvino]'") from None
    return openvino


@functools.cache
def _core() -> Any:
    """One ``openvino.Core`` per process, kept until it exits. The test suite's workers
    died with SIGSEGV at random later points, only after OpenVINO tests had run in them;
    a Core made and freed by every runner (its plugin's threads torn down whenever the
    garbage collector got to it) is the suspect, not a proven cause."""
    return _ov().Core()


def check_device(device: str) -> None:
    """OpenVINO runs here on the CPU only: ``auto`` and ``cpu`` are accepted."""
    if device not in ("auto", "cpu"):
        raise ValueError(
            f"the OpenVINO backend runs on the CPU ('auto' or 'cpu'), got device {device!r}; "
            "use --backend onnx or torch for CUDA"
        )


class OpenVinoRunner:
    """Callable: normalised float32 ``(N, 3, H, W)`` → logits ``(N, 1, h, w)`` (as exported).

    Compiled for the CPU with the ``LATENCY`` hint, ``threads`` (default: every core) and
    fp32 inference: OpenVINO's default on CPUs with native bf16 is bf16, which ran the
    default model slower here (9.6 vs 7.3 ms a 256×256 photo) and further from ONNX Runtime.
    One call runs at a time (a lock), as OpenVINO's infer requests need.
    """

    name = "openvino-cpu"

    def __init__(self, path: str | Path, threads: int | None = None, device: str = "auto"):
        _ov()  # a clear error when OpenVINO is missing
        check_device(device)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        self.core = _core()
        try:
            self.model = self.core.read_model(str(path))
        except RuntimeError as err:  # OpenVINO's read errors
            raise ValueError(f"{path} is not a loadable ONNX model ({err})") from None
        where = ["framework", METADATA_KEY]
        if not self.model.has_rt_info(where):
            raise ValueError(
                f"{path} was not exported by `personseg export` (no metadata); "
                f"export the checkpoint with personseg export"
            )
        self.metadata: dict[str, Any] = json.loads(self.model.get_rt_info(where).astype(str))
        self.spec = spec_from_metadata(self.metadata)
        self.config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads or os.cpu_count() or 1,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self.dynamic = self.core.compile_model(
            self.model, "CPU", self.config
        ).create_infer_request()
        self.static: dict[tuple[int, ...], Any] = {}  # shape → its own model's infer request
        self.seen: dict[tuple[int, ...], int] = {}  # shape → calls so far
        self.static_after = STATIC_AFTER
        self._lock = threading.Lock()

    def _request(self, shape: tuple[int, ...]) -> Any:
        """The infer request for this input shape (its own model once it is seen often)."""
        request = self.static.get(shape)
        if request is not None:
            return request
        self.seen[shape] = self.seen.get(shape, 0) + 1
        if self.seen[shape] < self.static_after or len(self.static) >= MAX_STATIC:
            return self.dynamic
        model = self.model.clone()
        model.reshape({model.inputs[0]: list(shape)})
        request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        self.static[shape] = request
        return request

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        with self._lock:
            request = self._request(batch.shape)
            request.infer({0: batch})
            return request.get_output_tensor(0).data.copy()  # the request reuses its buffer
