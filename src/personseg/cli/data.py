"""``personseg data check`` (pairs, unreadable files, size mismatches) and ``data import``."""

from __future__ import annotations

import argparse

from personseg.cli.common import add_max_pixels, quiet_flag
from personseg.cli.data_import import add_import_parser, run_import


def add_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", parents=quiet_flag(), help="inspect data folders")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = data_sub.add_parser(
        "check",
        parents=quiet_flag(),
        help="report pairs, unreadable (truncated, corrupt, too large) files, size mismatches",
    )
    check.add_argument("roots", nargs="*", metavar="ROOT")
    check.add_argument(
        "--negatives",
        action="append",
        default=[],
        metavar="DIR",
        help="also check a folder of photos with nobody in them (count, unreadable, splits)",
    )
    add_max_pixels(check)
    add_import_parser(data_sub)
    pseudo = data_sub.add_parser(
        "pseudo-label",
        parents=quiet_flag(),
        help="photos with person boxes (YOLO labels/) -> a data root of a model's masks, kept "
        "inside the boxes, with ignore/ where model and boxes disagree",
    )
    pseudo.add_argument("source", metavar="ROOT", help="folder with images/ and labels/")
    pseudo.add_argument("--out", required=True, metavar="DIR", help="the data root to write")
    pseudo.add_argument("--model", default="default", help="the labelling model (default)")
    pseudo.add_argument(
        "--split",
        action="append",
        default=None,
        metavar="NAME",
        help="split files of ROOT to label (default: train; repeat for several)",
    )
    data.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.data import check_data, check_negatives

    if args.data_command == "import":
        return run_import(args)
    if args.data_command == "pseudo-label":
        from personseg.inference import Segmenter
        from personseg.inference.pseudo import pseudo_label_root

        counts = pseudo_label_root(
            args.source, args.out, Segmenter.load(args.model), splits=tuple(args.split or ["train"])
        )
        print(
            f"wrote {args.out}: {counts['photos']} photos, {counts['boxes']} boxes, "
            f"{counts['boxes_ignored']} boxes the model left empty (ignored), "
            f"{counts['stray_photos']} photos with a person outside every box (ignored there)"
        )
        return 0

    if not args.roots and not args.negatives:
        raise ValueError("give a data ROOT to check, or --negatives DIR")
    limit = args.max_pixels
    reports = [check_data(r, limit) for r in args.roots]
    reports += [check_negatives(n, limit) for n in args.negatives]
    for report in reports:
        print(report.format())
    return 0 if all(r.ok for r in reports) else 1
