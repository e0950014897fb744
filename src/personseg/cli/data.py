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
    data.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.data import check_data, check_negatives

    if args.data_command == "import":
        return run_import(args)

    if not args.roots and not args.negatives:
        raise ValueError("give a data ROOT to check, or --negatives DIR")
    limit = args.max_pixels
    reports = [check_data(r, limit) for r in args.roots]
    reports += [check_negatives(n, limit) for n in args.negatives]
    for report in reports:
        print(report.format())
    return 0 if all(r.ok for r in reports) else 1
