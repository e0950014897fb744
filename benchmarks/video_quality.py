"""Video: flicker and per-frame IoU with and without temporal smoothing, and frames/s.

Clips are made from real validation photos with their masks (``personseg.bench.synthetic_clip``:
a still camera, a shaking one, a pan and a zoom, each frame with fresh sensor noise), so every
frame has a ground truth. Each clip goes through ``segment_video`` (mp4 in, mp4 out, blur
effect) once per smoothing strength.

    python benchmarks/video_quality.py --json video_quality.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from common import load_segmenter, save

from personseg.bench import MOTIONS, synthetic_clip, write_video
from personseg.data import load_pair
from personseg.data.splits import split_samples
from personseg.inference.video import segment_video
from personseg.metrics import MetricAccumulator


def clip_scores(seg, video: Path, truths: list[np.ndarray], smoothing: float) -> dict:
    acc = MetricAccumulator(seg.threshold)

    def score(i: int, prob: np.ndarray) -> None:
        acc.update(prob > seg.threshold, truths[i].astype(bool))

    r = segment_video(
        seg,
        video,
        video.with_name(f"out-{smoothing}.mp4"),
        "blur",
        smoothing,
        progress=False,
        on_prob=score,
    )
    return {
        "mean_iou": acc.compute()["mean_iou"],
        "flicker": r["flicker"],
        "fps": r["frames_per_s"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--backend", default="onnx", choices=["torch", "onnx", "openvino"])
    p.add_argument("--data", default="../shared/data/ccp")
    p.add_argument("--photos", type=int, default=4, help="val photos, one clip per motion each")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--smoothing", type=float, nargs="+", default=[0.0, 0.5, 0.7])
    p.add_argument("--speed-seconds", type=float, default=10, help="640x480 clip for frames/s")
    p.add_argument("--json")
    a = p.parse_args()
    seg = load_segmenter(a.model, a.backend)
    samples = split_samples(a.data)
    samples = samples[:: max(1, len(samples) // a.photos)][: a.photos]
    rows: dict = {str(s): {m: [] for m in MOTIONS} for s in a.smoothing}
    with tempfile.TemporaryDirectory() as tmp:
        for k, sample in enumerate(samples):
            image, mask = load_pair(sample)
            for motion in MOTIONS:
                clip = list(synthetic_clip(image, mask, a.frames, motion, (480, 360), seed=k))
                video = Path(tmp) / f"{sample.stem}-{motion}.mp4"
                write_video((f for f, _ in clip), video)
                truths = [t for _, t in clip]
                for s in a.smoothing:
                    rows[str(s)][motion].append(clip_scores(seg, video, truths, s))
        # speed: a 640x480 clip of --speed-seconds at 25 fps, blur effect, default smoothing
        image, mask = load_pair(samples[0])
        n = round(25 * a.speed_seconds)
        video = Path(tmp) / "speed.mp4"
        write_video((f for f, _ in synthetic_clip(image, mask, n, "pan", (480, 640))), video)
        speed = segment_video(seg, video, Path(tmp) / "speed-out.mp4", "blur", progress=False)
    summary = {
        s: {
            m: {
                "mean_iou": float(np.mean([r["mean_iou"] for r in rs])),
                "flicker": float(np.mean([r["flicker"] for r in rs])),
            }
            for m, rs in motions.items()
        }
        for s, motions in rows.items()
    }
    save(
        {
            "model": a.model,
            "backend": seg.backend,
            "photos": [s.stem for s in samples],
            "frames_per_clip": a.frames,
            "by_smoothing": summary,
            "speed_640x480": {
                "frames": speed["frames"],
                "fps_in": speed["fps"],
                "frames_per_s": speed["frames_per_s"],
                "seconds": speed["seconds"],
            },
        },
        a.json,
    )


if __name__ == "__main__":
    main()
