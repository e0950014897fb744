"""Single-photo latency of several models in interleaved rounds (same process, same photo,
the order reversed every other round), for comparisons that machine drift between runs would
blur.

    python benchmarks/compare_speed.py old-int8.onnx src/personseg/weights/person-default-int8.onnx
"""

from __future__ import annotations

import argparse

import numpy as np
from common import interleaved_latency, save

from personseg.inference import Segmenter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--size", nargs=2, type=int, default=[256, 256], metavar=("H", "W"))
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--json")
    a = p.parse_args()
    photo = np.random.default_rng(0).integers(0, 255, (*a.size, 3), dtype=np.uint8)
    segs = {m: Segmenter.load(m) for m in a.models}
    if len(segs) != len(a.models):
        raise SystemExit("give each model once")
    size = f"{a.size[0]}x{a.size[1]}"
    timed = interleaved_latency(segs, {size: photo}, a.rounds, a.calls)
    result = {m: per_case[size] for m, per_case in timed.items()}
    save({"photo": size, "rounds": a.rounds, "models": result}, a.json)


if __name__ == "__main__":
    main()
