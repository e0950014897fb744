"""Whole-call latency (``Segmenter.predict``: resize, network, guided-filter edge) of a fast
checkpoint on ONNX Runtime and OpenVINO beside the bundled default on ONNX Runtime int8, on the
four cases of ``benchmarks/vs_mediapipe.py`` (cut from the first ccp ``val.txt`` photo): rounds of
``--calls`` calls per model and case, the model order reversed every other round; median over
rounds with the range.

    python benchmarks/fast_speed.py runs/fast-fit.pt --input-size 256
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import interleaved_latency
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
    for name, by_case in interleaved_latency(segs, photos, a.rounds, a.calls).items():
        cells = [
            f"{c} {v['ms']:.1f} ({v['range'][0]:.1f}-{v['range'][1]:.1f})"
            for c, v in by_case.items()
        ]
        print(f"{name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
