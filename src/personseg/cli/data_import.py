"""``personseg data import``: annotation files of labelling tools → a standard data root."""

from __future__ import annotations

import argparse

from personseg.cli.common import quiet_flag


def add_import_parser(data_sub: argparse._SubParsersAction) -> None:
    """Add ``import`` to ``personseg data``'s actions."""
    from personseg.data.formats.names import DEFAULT_CLASSES, FORMATS

    p = data_sub.add_parser(
        "import",
        parents=quiet_flag(),
        help="COCO / CVAT / LabelMe / VOC / YOLO-seg labels -> images/, masks/, ignore/",
    )
    p.add_argument("format", choices=FORMATS, metavar="FORMAT", help=", ".join(FORMATS))
    p.add_argument(
        "source", metavar="SOURCE", help="the annotation file, or the folder the tool exported"
    )
    p.add_argument("--out", required=True, metavar="ROOT", help="data root to write")
    p.add_argument(
        "--classes",
        default=None,
        help="comma-separated class names read as person, case-insensitive "
        f"(default: {','.join(DEFAULT_CLASSES)})",
    )
    p.add_argument("--images", metavar="DIR", help="where the photos are, if not beside the file")
    p.add_argument(
        "--keep-empty",
        action="store_true",
        help="keep images with no person as negatives (empty masks)",
    )
    p.add_argument("--link", action="store_true", help="symlink the photos instead of copying")
    p.add_argument(
        "--crowd",
        choices=("auto", "ignore", "person"),
        default="auto",
        help="COCO iscrowd=1: ignore pixels, person, or auto (person in CVAT exports)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of the photos listed in val.txt, the rest in train.txt (seeded; train and "
        "evaluate use them); 0 writes no split files (default 0.2)",
    )


def run_import(args: argparse.Namespace) -> int:
    from personseg.data.formats.names import require_pycocotools

    if not 0.0 <= args.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    require_pycocotools()
    from personseg.data.formats import import_labels

    report = import_labels(
        args.format,
        args.source,
        args.out,
        args.classes,
        args.images,
        args.keep_empty,
        args.link,
        args.crowd,
        args.val_fraction,
    )
    print(report.format())
    print(f"next: personseg data check {args.out}")
    return 0
