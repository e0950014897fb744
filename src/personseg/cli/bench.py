"""``personseg bench``: training or prediction speed of a registered model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from personseg.cli.common import positive_int, quiet_flag
from personseg.config import BACKENDS, PRECISIONS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", parents=quiet_flag(), help="measure training or prediction speed")
    p.add_argument("task", choices=["train", "predict"])
    p.add_argument("--model", default="unet", help="registered model name (random weights)")
    p.add_argument("--input-size", "--img-size", type=int, default=256, help="model input size")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--backend", choices=BACKENDS[1:], default="torch", help="predict only")
    p.add_argument(
        "--data",
        action="append",
        metavar="ROOT",
        help="real images from this root (default: synthetic)",
    )
    p.add_argument("--steps", type=positive_int, default=10, help="timed training steps")
    p.add_argument("--no-cache", action="store_true", help="decode images every step")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg import bench

    if args.task == "train":
        r = bench.bench_train(
            args.model,
            args.input_size,
            args.batch_size,
            args.precision,
            args.steps,
            data_roots=args.data or (),
            channels_last=not args.no_channels_last,
            cache=not args.no_cache,
            device=args.device,
        )
        print(
            f"train {r['model']} {r['input_size']}px batch {r['batch_size']} {r['precision']}: "
            f"{r['images_per_s']:.2f} images/s, data wait {100 * r['data_wait']:.1f} %, "
            f"peak memory {r['peak_memory_mb']:.0f} MB"
        )
    else:
        images = bench.real_images(args.data, 32) if args.data else None
        r = bench.bench_predict(
            args.model,
            args.input_size,
            args.batch_size,
            args.precision,
            args.backend,
            images,
            device=args.device,
        )
        print(
            f"predict {r['model']} {r['input_size']}px batch {r['batch_size']} {r['backend']} "
            f"{r['precision']}: {r['ms_per_image']:.1f} ms/image"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0
