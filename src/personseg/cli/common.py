"""Options several commands share, and loading the model they run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from personseg.config import BACKENDS, PRECISIONS
from personseg.inference.effects import REFINES
from personseg.inference.subject import SUBJECTS


def quiet_flag() -> list[argparse.ArgumentParser]:
    """Options every subcommand also takes after its name (SUPPRESS keeps a value given before)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only warnings and errors",
    )
    return [common]


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="default",
        metavar="CKPT",
        help="checkpoint, run dir, .onnx, or a bundled model: 'default' (the default) or 'fast' "
        "(for video and webcams: several times faster, less exact; MODEL_CARD.md)",
    )


def add_runtime(p: argparse.ArgumentParser) -> None:
    """Where and how a trained model runs (evaluate, predict, video, webcam)."""
    p.add_argument(
        "--threshold", type=probability, help="probability threshold (default: checkpoint)"
    )
    p.add_argument(
        "--refine",
        choices=REFINES,
        default="guided",
        help="edge of every output and score: guided (a guided filter moves it onto the "
        "photo's edges; default) or none (the network's own edge)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        metavar="S",
        help="model input size (fit: about S² pixels shaped like the photo; a multiple of the "
        "model's size divisor, 32 for the default model; default: the checkpoint's). Larger "
        "finds small people better, and is slower",
    )
    p.add_argument(
        "--subject",
        choices=SUBJECTS,
        default="all",
        help="all: every person (default); main: the photo's subject only, bystanders "
        "left out (the largest, most central person region and what touches it; in a "
        "video the same person from frame to frame)",
    )
    p.add_argument(
        "--min-area",
        type=share,
        default=0.0,
        metavar="F",
        help="drop person regions smaller than this share of the photo, e.g. 0.005 for "
        "specks under 0.5%% (default 0: keep all)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="PyTorch backend only (default auto: bf16 where the hardware has it)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="onnx: ONNX Runtime; openvino: OpenVINO (CPU); for both a .pt is exported "
        "beside itself first; auto: --model fast on OpenVINO (else ONNX Runtime, else PyTorch), "
        "other models by file type (.onnx on ONNX Runtime, else PyTorch)",
    )


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number of at least 0."""
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def share(text: str) -> float:
    """An argparse type: a share in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def probability(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_max_pixels(p: argparse.ArgumentParser) -> None:
    """The pixel limit of every image a command decodes (refused from its header, unread)."""
    from personseg.data.images import DEFAULT_MAX_PIXELS

    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse images of more than N pixels before decoding them "
        f"(default {DEFAULT_MAX_PIXELS:_}: {DEFAULT_MAX_PIXELS / 1e6:g} MP)",
    )


def add_effect_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--background", metavar="IMAGE|#RRGGBB", help="new background for --effect replace"
    )
    p.add_argument(
        "--blur",
        type=non_negative_float,
        default=15.0,
        help="background blur strength, 0 for none (default 15)",
    )
    p.add_argument(
        "--no-decontaminate",
        dest="decontaminate",
        action="store_false",
        help="cutout and replace: keep the photo's own colours in the soft edge (by default "
        "they are the person's, estimated: no halo of the old background)",
    )


def effect_options(args: argparse.Namespace) -> dict[str, Any]:
    """Effect settings from the flags; checked before any model is loaded."""
    from personseg.inference.effects import load_background

    effects = args.effect if isinstance(args.effect, list) else [args.effect]
    if "replace" in effects and not args.background:
        raise ValueError("--effect replace needs --background IMAGE or --background '#RRGGBB'")
    background = load_background(args.background, args.max_pixels) if args.background else None
    return {"blur": args.blur, "background": background, "decontaminate": args.decontaminate}


def resolve_model(args: argparse.Namespace, model: str | Path) -> str | Path:
    """The model file ``--backend`` runs (``--backend onnx`` or ``openvino`` with a ``.pt``
    exports it beside itself first, checked against PyTorch; once, until the ``.pt`` changes)."""
    from personseg.export import model_for_backend

    return model_for_backend(model, args.backend)


def load_segmenter(args: argparse.Namespace, model: str | Path):
    """The model on the chosen backend (see :func:`resolve_model`), with the runtime flags."""
    from personseg.inference.segmenter import Segmenter

    if args.input_size is not None and args.input_size < 1:
        raise ValueError(f"--input-size must be positive, got {args.input_size}")
    return Segmenter.load(
        resolve_model(args, model),
        args.backend,
        args.device,
        args.precision,
        refine=args.refine,
        input_size=args.input_size,
        subject=args.subject,
        min_area=args.min_area,
    )
