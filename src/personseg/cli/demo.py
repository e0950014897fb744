"""``personseg demo``: the bundled model on a sample portrait (or your photo)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from personseg.cli.common import quiet_flag
from personseg.config import BACKENDS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        parents=quiet_flag(),
        help="the bundled model on a sample portrait (or --image): mask, overlay, cut-out, blur",
    )
    p.add_argument("--image", metavar="PATH", help="your photo (default: a sample portrait)")
    p.add_argument(
        "--out", default="personseg-demo", help="output folder (default personseg-demo/)"
    )
    p.add_argument("--backend", choices=BACKENDS[1:], default="torch")
    p.add_argument("--model", default="default", metavar="CKPT", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.inference import Segmenter
    from personseg.inference.run import sample_image, write_demo

    image = Path(args.image) if args.image else sample_image()
    t0 = time.perf_counter()
    seg = Segmenter.load(args.model, args.backend)
    load_s = time.perf_counter() - t0
    r = write_demo(seg, image, args.out)
    found = "person segmented" if r["person_found"] else "no person found"
    print(
        f"{image.name}: {found} in {r['ms']:.0f} ms ({seg.backend}; model loaded in {load_s:.1f} s)"
    )
    for path in r["written"]:
        print(f"  {path}")
    return 0
