"""Whole-call latency (``Segmenter.predict``: resize, network, guided-filter edge) of a fast
checkpoint on ONNX Runtime and OpenVINO beside the bundled default on ONNX Runtime int8, on the
four cases of ``benchmarks/vs_mediapipe.py`` (cut from the first ccp ``val.txt`` photo): rounds of
``--calls`` calls per model and case, the model order reversed every other round; median over
rounds with the range.

    python benchmarks/fast_speed.py runs/fast-fit.pt --input-size 256
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from vs_mediapipe import cases

from personseg import Segmenter
from personseg.export import model_for_backend


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a fast model's .pt (resize fit)")
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--root", default="../shared/data")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=20)
    a = p.parse_args()
    photos = cases(Path(a.root))
    onnx = model_for_backend(a.checkpoint, "onnx")
    segs = {"default onnx int8": Segmenter.load("default", backend="onnx")}
    for backend in ("onnx", "openvino"):
        segs[f"fast {backend}"] = Segmenter.load(onnx, backend=backend)
        segs[f"fast {backend}"].input_size = a.input_size
    ms: dict[str, dict[str, list[float]]] = {k: {c: [] for c in photos} for k in segs}
    for r in range(a.rounds):
        order = list(segs.items()) if r % 2 == 0 else list(segs.items())[::-1]
        for name, seg in order:
            for case, image in photos.items():
                for _ in range(3):
                    seg.predict(image)
                times = []
                for _ in range(a.calls):
                    t = time.perf_counter()
                    seg.predict(image)
                    times.append(time.perf_counter() - t)
                ms[name][case].append(float(np.median(times)) * 1e3)
    for name, by_case in ms.items():
        cells = [f"{c} {np.median(v):.1f} ({min(v):.1f}-{max(v):.1f})" for c, v in by_case.items()]
        print(f"{name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
