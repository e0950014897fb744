"""``personseg doctor``: is this machine ready? Each line OK, INFO or FIX (with what to do)."""

from __future__ import annotations

import argparse

from personseg.cli.common import quiet_flag


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor", parents=quiet_flag(), help="check the installation; each line OK or a fix"
    )
    p.add_argument("--data", metavar="ROOT", help="also check this data root")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.doctor import doctor

    return doctor(args.data)
