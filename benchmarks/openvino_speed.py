"""OpenVINO against ONNX Runtime (and PyTorch) for the bundled default model, one photo at a time.

Whole ``Segmenter.predict`` calls (resize, network, edge filter) on a 256×256, a 640×480 and a
1280×720 picture (a ccp photo resized) and a ccp photo as it is; the backends take turns call
by call, in a shuffled order, so a load on the machine falls on all of them alike; the median
of ``--rounds`` calls each. OpenVINO runs twice: on its dynamic-shape model (what a shape
gets for its first ``STATIC_AFTER`` calls) and on a model compiled for the shape (after that).

    python benchmarks/openvino_speed.py --rounds 60 --json docs/openvino_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import cv2

from personseg.data.dataset import load_image
from personseg.inference.segmenter import Segmenter

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "ccp" / "images" / "0002.jpg"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--photo", default=str(PHOTO))
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out (slowest)")
    p.add_argument("--json", metavar="OUT")
    a = p.parse_args()
    photo = load_image(a.photo)
    images = {
        "256x256": cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA),
        "640x480": cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA),
        "1280x720": cv2.resize(photo, (1280, 720), interpolation=cv2.INTER_LINEAR),
        f"ccp photo {photo.shape[1]}x{photo.shape[0]}": photo,
    }
    segs = {"onnxruntime": Segmenter.load("default", "onnx")}
    dynamic = Segmenter.load("default", "openvino")
    dynamic.model.static_after = 10**9  # never its own model: the first calls of a shape
    static = Segmenter.load("default", "openvino")
    static.model.static_after = 1  # a model for each shape from its first call
    segs |= {"openvino dynamic": dynamic, "openvino per-shape": static}
    if not a.no_torch:
        segs["torch"] = Segmenter.load("default", "torch")
    for seg in segs.values():  # warm-up (and the per-shape compile)
        for image in images.values():
            seg.predict(image)
    ms: dict[str, dict[str, list[float]]] = {n: {k: [] for k in segs} for n in images}
    rng = random.Random(0)
    for _ in range(a.rounds):
        for name, image in images.items():
            for key in rng.sample(list(segs), len(segs)):  # no backend always runs first
                seg = segs[key]
                t0 = time.perf_counter()
                seg.predict(image)
                ms[name][key].append(1000 * (time.perf_counter() - t0))
    rows = {n: {k: round(statistics.median(v), 2) for k, v in r.items()} for n, r in ms.items()}
    print(f"ms per predict call, median of {a.rounds}: " + ", ".join(segs))
    for name, row in rows.items():
        print(f"{name:>22}: " + "  ".join(f"{v:6.1f}" for v in row.values()))
    if a.json:
        meta = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "backends": {k: s.backend for k, s in segs.items()},
            "rounds": a.rounds,
        }
        Path(a.json).write_text(json.dumps({**meta, "ms_median": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
