"""``personseg`` command line: one module per command, each parses its arguments, builds the
config and calls one library function (``add_parser(subparsers)`` and ``run(args) -> int``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from personseg import __version__
from personseg.cli import (
    bench,
    data,
    demo,
    doctor,
    evaluate,
    export,
    predict,
    serve,
    train,
    video,
)

log = logging.getLogger("personseg")

# in the order of `personseg --help`; video.py adds both video and webcam
COMMANDS = (train, evaluate, predict, video, serve, demo, data, export, bench, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="personseg", description="Person segmentation with U-Net: train, evaluate, predict."
    )
    parser.add_argument("--version", action="version", version=f"personseg {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)  # each sets its run function as the default of args.run
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message comes (not when main() ran), so
    that messages after main() returns never go to a stream closed since."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _message(err: Exception) -> str:
    """The error's own text; for an operating-system error about a file (no such folder, no
    permission, a file where a folder should be), its reason and the file, without errno."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return f"{err.filename}: {err.strerror.lower()}"
    return str(err)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]  # our messages only; other libraries keep their defaults
    other_rank = int(os.environ.get("RANK", "0")) > 0  # under torchrun only rank 0 talks
    log.setLevel(logging.WARNING if args.quiet or other_rank else logging.INFO)
    log.propagate = False
    try:
        return args.run(args)
    except (ValueError, OSError, FloatingPointError) as err:
        print(f"personseg {args.command}: error: {_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; last.pt holds the last finished epoch: continue with --resume RUN_DIR"
        print(
            f"personseg {args.command}: interrupted" + (hint if args.command == "train" else ""),
            file=sys.stderr,
        )
        return 130
