"""``personseg video`` (an effect on every frame of a file) and ``personseg webcam`` (live)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from personseg.cli.common import (
    add_effect_options,
    add_max_pixels,
    add_model,
    add_runtime,
    effect_options,
    load_segmenter,
    positive_int,
    quiet_flag,
)
from personseg.inference.effects import EFFECTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video", parents=quiet_flag(), help="apply an effect to every frame of a video"
    )
    p.add_argument("input", metavar="INPUT", help="video file (anything OpenCV reads)")
    p.add_argument(
        "--out",
        required=True,
        metavar="OUTPUT",
        help="output: .mp4/.avi/.mkv, .webm (VP9) or .mov (ProRes) keep a cut-out's "
        "alpha, frames/%%05d.png writes one PNG per frame",
    )
    p.add_argument("--effect", choices=EFFECTS, default="blur", help="default blur")
    add_effect_options(p)
    add_max_pixels(p)
    p.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        help="temporal smoothing strength in [0, 1), 0 = off (default 0.5)",
    )
    p.add_argument(
        "--stats",
        action="store_true",
        help="print the flicker measure and the milliseconds per frame of each stage",
    )
    p.add_argument("--json", metavar="OUT", help="write the statistics as JSON")
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--no-audio", action="store_true", help="do not copy the input's audio")
    add_model(p)
    add_runtime(p)
    p.set_defaults(run=run)

    p = sub.add_parser("webcam", parents=quiet_flag(), help="live effect on a camera in a window")
    p.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    p.add_argument("--effect", choices=EFFECTS, default="blur", help="default blur")
    add_effect_options(p)
    add_max_pixels(p)
    p.add_argument("--smoothing", type=float, default=0.5, help="temporal smoothing (default 0.5)")
    add_model(p)
    add_runtime(p)
    p.set_defaults(run=run_webcam)


def run(args: argparse.Namespace) -> int:
    from personseg.inference.video import AUDIO_NOTES, segment_video
    from personseg.inference.videoio import check_output, copy_audio

    check_output(args.out, alpha=args.effect == "cutout")  # before the model loads
    options = effect_options(args)
    seg = load_segmenter(args, args.model)
    r = segment_video(
        seg,
        args.input,
        args.out,
        args.effect,
        args.smoothing,
        args.batch_size,
        progress=not args.quiet,
        threshold=args.threshold if args.threshold is not None else seg.threshold,
        **options,
    )
    if args.no_audio:
        audio = "left out (--no-audio)"
    else:
        audio = AUDIO_NOTES[copy_audio(args.input, args.out)]
    print(
        f"wrote {r['output']}: {r['frames']} frames, {r['size'][0]}x{r['size'][1]} at "
        f"{r['fps']:.2f} fps ({r['frames_per_s']:.1f} frames/s; audio {audio})"
    )
    if args.stats:
        print(f"flicker (mean |change| of the probability on still pixels): {r['flicker']:.5f}")
        stages = "  ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items())
        print(f"ms per frame: {stages}  (total {1000 / r['frames_per_s']:.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


def run_webcam(args: argparse.Namespace) -> int:
    from personseg.inference.video import run_webcam

    options = effect_options(args)
    seg = load_segmenter(args, args.model)
    try:
        threshold = args.threshold if args.threshold is not None else seg.threshold
        run_webcam(seg, args.camera, args.effect, args.smoothing, threshold=threshold, **options)
    except RuntimeError as err:
        print(f"personseg webcam: error: {err}", file=sys.stderr)
        return 2
    return 0
