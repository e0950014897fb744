"""``personseg export``: a checkpoint to ONNX (checked against PyTorch) or to a slim .pt."""

from __future__ import annotations

import argparse
from pathlib import Path

from personseg.cli.common import quiet_flag
from personseg.config import RESIZES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        parents=quiet_flag(),
        help="export a checkpoint to ONNX (checked against PyTorch), or to a slim .pt to ship",
    )
    p.add_argument("--model", required=True, metavar="CKPT")
    p.add_argument(
        "--out",
        required=True,
        metavar="MODEL.onnx|MODEL.pt",
        help=".onnx: ONNX model; .pt: slim checkpoint (float16 weights, no optimizer state)",
    )
    p.add_argument(
        "--resize",
        choices=RESIZES,
        help=".pt only: how the shipped model resizes images at prediction; fit = about "
        "input_size² pixels shaped like the image (default: as trained)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        metavar="S",
        help=".pt only: size the shipped model resizes images to at prediction (a multiple of "
        "the model's size divisor; default: the training size)",
    )
    p.add_argument("--opset", type=int, default=18)
    p.add_argument(
        "--quantize",
        choices=["int8"],
        help="also write an int8 model (static, calibrated on --check-images); "
        "the fp32 model goes to <out>-fp32.onnx",
    )
    p.add_argument(
        "--check-images",
        nargs="+",
        metavar="INPUT",
        help="images, folders or globs for the parity check (default: synthetic)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from personseg.export import export_onnx, quantize_onnx, slim_checkpoint
    from personseg.inference import collect_inputs

    _check_paths(args)
    if Path(args.out).suffix.lower() == ".pt":
        if args.quantize or args.check_images:
            raise ValueError("--quantize and --check-images apply to an .onnx export only")
        b = slim_checkpoint(args.model, args.out, resize=args.resize, input_size=args.input_size)
        print(
            f"wrote {b['path']} ({b['size_mb']:.1f} MB, float16 weights); largest probability "
            f"difference from the full checkpoint on a test batch: {b['max_abs_diff']:.1e}"
        )
        return 0
    if args.resize or args.input_size:
        raise ValueError(
            "--resize and --input-size apply to a .pt export only: export a .pt with them "
            "first, then export that .pt to ONNX"
        )
    if args.quantize and not args.check_images:
        raise ValueError(
            "--quantize int8 needs calibration photos: pass --check-images with a few dozen "
            "photos like the ones the model will see"
        )
    images = collect_inputs(args.check_images) if args.check_images else None
    out = Path(args.out)
    fp32_out = out.with_name(f"{out.stem}-fp32.onnx") if args.quantize else out
    r = export_onnx(args.model, fp32_out, opset=args.opset, check_images=images)
    print(
        f"wrote {r['path']} ({r['size_mb']:.1f} MB, opset {r['opset']}); parity with PyTorch "
        f"on {r['n_images']} images: max probability difference {r['max_abs_diff']:.1e}, "
        f"mask IoU {r['mask_iou']:.5f}"
    )
    if args.quantize:
        q = quantize_onnx(fp32_out, out, images or [])
        print(
            f"wrote {q['path']} (int8, {q['size_mb']:.1f} MB); against fp32 on "
            f"{q['n_calibration']} calibration images: mask IoU {q['int8_mask_iou']:.4f}, "
            f"max probability difference {q['int8_max_abs_diff']:.3f}"
        )
    return 0


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output nothing would load or one that replaces the input."""
    from personseg.checkpoint import resolve_checkpoint

    out = Path(args.out)
    if out.is_dir() or args.out.endswith(("/", "\\")):
        raise ValueError(f"--out {args.out} is a folder: name the file, e.g. {out / 'model.onnx'}")
    if out.suffix.lower() not in (".onnx", ".pt"):
        raise ValueError(
            f"--out {args.out}: name it .onnx (ONNX Runtime) or .pt (slim PyTorch checkpoint)"
        )
    source = resolve_checkpoint(args.model)
    if source.suffix.lower() == ".onnx":
        raise ValueError(
            f"{args.model} is already an ONNX model: export from the .pt checkpoint it came from"
        )
    if source.exists() and out.resolve() == source.resolve():
        raise ValueError(f"--out {args.out} is the checkpoint being exported: choose another name")
