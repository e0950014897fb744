"""``personseg predict``: masks (or effects) for images, folders or globs."""

from __future__ import annotations

import argparse
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
from personseg.data.formats.names import LABEL_FORMATS, require_pycocotools
from personseg.inference.effects import EFFECTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", parents=quiet_flag(), help="write person masks for images, folders or globs"
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    add_model(p)
    p.add_argument("--out", default="predictions", help="output folder (default predictions/)")
    p.add_argument(
        "--effect",
        action="append",
        choices=EFFECTS,
        help="what to write per image, repeatable: mask (default), overlay, cutout (RGBA PNG), "
        "blur, replace",
    )
    add_effect_options(p)
    add_max_pixels(p)
    p.add_argument("--visualize", action="store_true", help="also write overlay and figure PNGs")
    p.add_argument(
        "--labels",
        choices=LABEL_FORMATS,
        help="write pre-labels in this format (with copies of the photos) to correct in a "
        "labelling tool, instead of mask files; read back with `personseg data import`",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        help="LabelMe polygons: simplify to this many pixels (default 1.0)",
    )
    p.add_argument("--batch-size", type=positive_int, default=4)
    add_runtime(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.inference import collect_inputs, predict_files

    if args.labels:
        require_pycocotools()
    paths = collect_inputs(args.inputs)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file: give a folder for the outputs")
    options = effect_options(args)
    seg = load_segmenter(args, args.model)
    if args.labels:
        return _prelabel(args, seg, paths)
    result = predict_files(
        seg,
        paths,
        args.out,
        args.visualize,
        args.threshold,
        args.batch_size,
        args.effect or ["mask"],
        options,
        args.max_pixels,
    )
    failed = result["failed"]
    if failed and not result["written"]:  # nothing could be read: one line says why
        raise ValueError(failed[0] + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    print(
        f"wrote {len(result['written'])} file(s) to {args.out} "
        f"({result['ms_per_image']:.1f} ms/image)"
    )
    nobody = result["no_person"]
    if nobody:
        names = ", ".join(p.name for p in nobody[:3]) + (", ..." if len(nobody) > 3 else "")
        print(f"no person found in {len(nobody)} image(s): {names}")
    for line in failed:
        print(f"skipped {line}", file=sys.stderr)
    if failed:
        print(f"skipped {len(failed)} unreadable image(s)", file=sys.stderr)
        return 1
    return 0


def _prelabel(args: argparse.Namespace, seg, paths) -> int:
    from personseg.inference.run import prelabel_files

    result = prelabel_files(
        seg, paths, args.out, args.labels, args.threshold, args.tolerance, args.max_pixels
    )
    failed = result["failed"]
    if failed and not result["written"]:
        raise ValueError(failed[0] + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    n = len(paths) - len(failed)
    print(
        f"wrote {args.labels} pre-labels for {n} image(s) to {args.out}; correct them in the "
        f"tool, then: personseg data import {args.labels} {args.out} --out ROOT"
    )
    for line in failed:
        print(f"skipped {line}", file=sys.stderr)
    return 1 if failed else 0
