"""Video end to end: frames/s of ``personseg video`` (mp4 in, effect, mp4 out) and the
milliseconds per frame of each stage (decode, resize, model, edge, smoothing, effect, encode),
for 640×480 and 1280×720 clips.

The clips are a camera panning over the first ccp ``val.txt`` photo
(``personseg.bench.synthetic_clip``), written as mp4 (mp4v) once and read by every run; each
model runs each clip ``--repeats`` times and the fastest run is kept (the others differ by
machine noise only).

    python benchmarks/video_speed.py --models default --json video_speed.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import load_segmenter, save

from personseg.bench import synthetic_clip, write_video
from personseg.data import load_pair
from personseg.data.splits import split_samples
from personseg.inference.video import segment_video

SIZES = {"640x480": (480, 640), "1280x720": (720, 1280)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["default"], help="bundled names, .pt, .onnx")
    p.add_argument("--backend", default="onnx", choices=["onnx", "openvino", "torch"])
    p.add_argument("--root", default="../shared/data")
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--effect", default="blur")
    p.add_argument("--json")
    a = p.parse_args()
    image, mask = load_pair(split_samples(Path(a.root) / "ccp", "val")[0])
    results: dict = {"effect": a.effect, "frames": a.frames, "backend": a.backend, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {}
        for name, size in SIZES.items():
            clips[name] = Path(tmp) / f"{name}.mp4"
            frames = (f for f, _ in synthetic_clip(image, mask, a.frames, "pan", size))
            write_video(frames, clips[name], 30.0)
        for model in a.models:
            seg = load_segmenter(model, a.backend)
            for name, clip in clips.items():
                runs = [
                    segment_video(seg, clip, Path(tmp) / "out.mp4", a.effect, progress=False)
                    for _ in range(a.repeats)
                ]
                best = max(runs, key=lambda r: r["frames_per_s"])
                results["runs"][f"{model} {name}"] = {
                    "frames_per_s": best["frames_per_s"],
                    "all_frames_per_s": [r["frames_per_s"] for r in runs],
                    "stages_ms": best.get("stages_ms"),  # personseg before 2026-11-26 has none
                }
    save(results, a.json)


if __name__ == "__main__":
    main()
