"""``personseg evaluate``: score a checkpoint on a data root at the masks' own resolution."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from personseg.cli.common import (
    add_max_pixels,
    add_model,
    add_runtime,
    load_segmenter,
    non_negative_int,
    quiet_flag,
)

log = logging.getLogger("personseg")

# The layout of the --json file; the name changes when a key is renamed or removed.
JSON_SCHEMA = "personseg-evaluate-v2"
# Names of the first layout (no "schema" key), written with the same values for one more release.
DEPRECATED_KEYS = {
    "precision": "mean_precision",
    "recall": "mean_recall",
    "boundary_f1": "mean_boundary_f1",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", parents=quiet_flag(), help="score a checkpoint at the masks' own resolution"
    )
    add_model(p)
    p.add_argument("--data", required=True, metavar="ROOT", help="data root with images/, masks/")
    p.add_argument(
        "--split",
        help="file of stems to score, or 'all' (default: ROOT/val.txt if present, else all pairs)",
    )
    p.add_argument("--json", metavar="OUT", help="write the summary as JSON")
    p.add_argument("--csv", metavar="PER_IMAGE", help="write per-image scores as CSV")
    p.add_argument("--gallery", metavar="PNG", help="write a figure of the worst images")
    p.add_argument(
        "--boundary-tol",
        type=non_negative_int,
        default=3,
        help="boundary F1 tolerance in pixels (default 3)",
    )
    add_runtime(p)
    add_max_pixels(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.data.splits import evaluation_samples
    from personseg.inference import evaluate_samples

    for out in (args.json, args.csv, args.gallery):  # before the scoring, not after it
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
    seg = load_segmenter(args, args.model)
    samples, what = evaluation_samples(args.data, args.split)
    log.info("scoring %d images of %s", len(samples), what)
    result = evaluate_samples(
        seg,
        samples,
        args.threshold,
        args.boundary_tol,
        args.csv,
        args.gallery,
        max_pixels=args.max_pixels,
    )
    result.update({"model": str(args.model), "data": str(args.data), "split": what})
    print(
        f"{result['n_images']} images ({what}): mean IoU {result['mean_iou']:.4f}, "
        f"mean Dice {result['mean_dice']:.4f}, pooled IoU {result['pooled_iou']:.4f}, "
        f"boundary F1 {result['mean_boundary_f1']:.4f}, {result['ms_per_image']:.1f} ms/image"
    )
    if args.json:
        old = {name: result[new] for name, new in DEPRECATED_KEYS.items()}
        Path(args.json).write_text(json.dumps({"schema": JSON_SCHEMA, **result, **old}, indent=2))
    return 0
