"""``personseg`` command line: parses arguments, builds the config, calls one library function."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from personseg import __version__
from personseg.config import AUGMENTS, PRECISIONS, RESIZES
from personseg.inference.effects import EFFECTS, REFINES

log = logging.getLogger("personseg")


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def _common() -> list[argparse.ArgumentParser]:
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


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        parents=_common(),
        help="train a model on image/mask folders",
        description="Train a segmentation model. Flags override --config values.",
    )
    p.add_argument("--config", help="YAML run file (see configs/)")
    p.add_argument(
        "--data",
        action="append",
        metavar="ROOT",
        help="data root with images/ and masks/ (repeat to combine sets); default: ./data",
    )
    p.add_argument("--model", help="registered model name (default unet)")
    p.add_argument(
        "--model-arg",
        action="append",
        type=_model_arg,
        metavar="KEY=VALUE",
        help="model keyword argument, e.g. bilinear=false or base_channels=48",
    )
    p.add_argument("--input-size", type=int, help="square training input size (default 256)")
    p.add_argument(
        "--init",
        metavar="CKPT",
        help="start from these weights (fine-tuning): a checkpoint, run dir, or 'default'",
    )
    p.add_argument(
        "--augment",
        choices=AUGMENTS,
        help="seed (flip, rotation, brightness, blur; the default) or strong (adds scale, "
        "shift, colour, noise, JPEG)",
    )
    p.add_argument("--cutouts", metavar="DIR", help="RGBA people to paste into training photos")
    p.add_argument("--paste-prob", type=float, help="chance a photo gets 1-3 pasted people")
    p.add_argument("--backgrounds", metavar="DIR", help="photos with nobody in them")
    p.add_argument(
        "--scenes", type=int, help="samples per epoch from --backgrounds (half with pasted people)"
    )
    p.add_argument(
        "--negatives",
        action="append",
        metavar="DIR",
        help="photos with nobody in them (in DIR or DIR/images; its train.txt/val.txt "
        "respected), trained on with empty masks; repeat to combine folders",
    )
    p.add_argument(
        "--negatives-share", type=float, help="share of each epoch drawn from --negatives (0.2)"
    )
    p.add_argument(
        "--composites",
        type=int,
        help="samples per epoch: training people pasted beside the subject of --negatives "
        "and --backgrounds photos",
    )
    p.add_argument(
        "--portrait-prob",
        type=float,
        help="chance a standing person's photo is cropped to head-and-shoulders or half-body",
    )
    p.add_argument(
        "--resize",
        choices=["letterbox", "stretch"],
        help="letterbox keeps the aspect ratio (default); stretch squashes",
    )
    p.add_argument("--epochs", type=int, help="total epochs (default 50)")
    p.add_argument("--batch-size", type=int, help="images per step (default 8)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 1e-4)")
    p.add_argument(
        "--patience",
        type=int,
        help="early-stop after N epochs without a better val Dice; 0 disables (default 10)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        help="validation share when a root has no val.txt (default 0.2)",
    )
    p.add_argument("--workers", type=int, help="data loader processes (default: from cores)")
    p.add_argument("--seed", type=int, help="random seed (default 42)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (default): bf16 autocast where the CPU/GPU has it, else fp32",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        default=None,
        help="decode images every epoch instead of keeping them in memory",
    )
    p.add_argument("--out", help="run directory (default runs/<date-time>)")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes on this machine: launches torchrun --nproc-per-node N "
        "(one per GPU; Gloo on CPUs)",
    )
    p.add_argument(
        "--accumulate",
        type=int,
        help="optimizer step every N batches (keep the global batch when the "
        "number of processes changes; default 1)",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="BatchNorm statistics over all processes",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (its config; --epochs may raise the total)",
    )


def _add_runtime(p: argparse.ArgumentParser) -> None:
    """Where and how a trained model runs (evaluate, predict)."""
    p.add_argument("--threshold", type=float, help="probability threshold (default: checkpoint)")
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
        help="model input size (fit: about S² pixels shaped like the photo; a multiple of 32; "
        "default: the checkpoint's). Larger finds small people better, and is slower",
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
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="onnx: ONNX Runtime (a .pt is exported beside itself first); auto: by file type",
    )


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", parents=_common(), help="score a checkpoint at the masks' own resolution"
    )
    _add_model(p)
    p.add_argument("--data", required=True, metavar="ROOT", help="data root with images/, masks/")
    p.add_argument(
        "--split",
        help="file of stems to score, or 'all' (default: ROOT/val.txt if present, else all pairs)",
    )
    p.add_argument("--json", metavar="OUT", help="write the summary as JSON")
    p.add_argument("--csv", metavar="PER_IMAGE", help="write per-image scores as CSV")
    p.add_argument("--gallery", metavar="PNG", help="write a figure of the worst images")
    p.add_argument(
        "--boundary-tol", type=int, default=3, help="boundary F1 tolerance in pixels (default 3)"
    )
    _add_runtime(p)


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", parents=_common(), help="write person masks for images, folders or globs"
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    _add_model(p)
    p.add_argument("--out", default="predictions", help="output folder (default predictions/)")
    p.add_argument(
        "--effect",
        action="append",
        choices=EFFECTS,
        help="what to write per image, repeatable: mask (default), overlay, cutout (RGBA PNG), "
        "blur, replace",
    )
    _add_effect_options(p)
    p.add_argument("--visualize", action="store_true", help="also write overlay and figure PNGs")
    p.add_argument("--batch-size", type=int, default=4)
    _add_runtime(p)


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="default",
        metavar="CKPT",
        help="checkpoint, run dir, .onnx, or 'default' (the bundled model; the default)",
    )


def _add_effect_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--background", metavar="IMAGE|#RRGGBB", help="new background for --effect replace"
    )
    p.add_argument("--blur", type=float, default=15.0, help="background blur strength (default 15)")


def _effect_options(args: argparse.Namespace) -> dict[str, Any]:
    """Effect settings from the flags; checked before any model is loaded."""
    from personseg.inference.effects import load_background

    effects = args.effect if isinstance(args.effect, list) else [args.effect]
    if "replace" in effects and not args.background:
        raise ValueError("--effect replace needs --background IMAGE or --background '#RRGGBB'")
    background = load_background(args.background) if args.background else None
    return {"blur": args.blur, "background": background}


def _add_video(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", parents=_common(), help="apply an effect to every frame of a video")
    p.add_argument("input", metavar="INPUT", help="video file (anything OpenCV reads)")
    p.add_argument("--out", required=True, metavar="OUTPUT", help="output video (.mp4 or .avi)")
    p.add_argument("--effect", choices=EFFECTS, default="blur", help="default blur")
    _add_effect_options(p)
    p.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        help="temporal smoothing strength in [0, 1), 0 = off (default 0.5)",
    )
    p.add_argument("--stats", action="store_true", help="print frames/s and the flicker measure")
    p.add_argument("--json", metavar="OUT", help="write the statistics as JSON")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--no-audio", action="store_true", help="do not copy audio back with ffmpeg")
    _add_model(p)
    _add_runtime(p)


def _add_webcam(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webcam", parents=_common(), help="live effect on a camera in a window")
    p.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    p.add_argument("--effect", choices=EFFECTS, default="blur", help="default blur")
    _add_effect_options(p)
    p.add_argument("--smoothing", type=float, default=0.5, help="temporal smoothing (default 0.5)")
    _add_model(p)
    _add_runtime(p)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        parents=_common(),
        help="the bundled model on a sample portrait (or --image): mask, overlay, cut-out, blur",
    )
    p.add_argument("--image", metavar="PATH", help="your photo (default: a sample portrait)")
    p.add_argument(
        "--out", default="personseg-demo", help="output folder (default personseg-demo/)"
    )
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    p.add_argument("--model", default="default", metavar="CKPT", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="personseg", description="Person segmentation with U-Net: train, evaluate, predict."
    )
    parser.add_argument("--version", action="version", version=f"personseg {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_video(sub)
    _add_webcam(sub)
    _add_demo(sub)
    data = sub.add_parser("data", parents=_common(), help="inspect data folders")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = data_sub.add_parser(
        "check", parents=_common(), help="report pairs, unreadable files, size mismatches"
    )
    check.add_argument("roots", nargs="*", metavar="ROOT")
    check.add_argument(
        "--negatives",
        action="append",
        default=[],
        metavar="DIR",
        help="also check a folder of photos with nobody in them (count, unreadable, splits)",
    )
    exp = sub.add_parser(
        "export",
        parents=_common(),
        help="export a checkpoint to ONNX (checked against PyTorch), or to a slim .pt to ship",
    )
    exp.add_argument("--model", required=True, metavar="CKPT")
    exp.add_argument(
        "--out",
        required=True,
        metavar="MODEL.onnx|MODEL.pt",
        help=".onnx: ONNX model; .pt: slim checkpoint (float16 weights, no optimizer state)",
    )
    exp.add_argument(
        "--resize",
        choices=RESIZES,
        help=".pt only: how the shipped model resizes images at prediction; fit = about "
        "input_size² pixels shaped like the image (default: as trained)",
    )
    exp.add_argument(
        "--input-size",
        type=int,
        metavar="S",
        help=".pt only: size the shipped model resizes images to at prediction (a multiple of "
        "32; default: the training size)",
    )
    exp.add_argument("--opset", type=int, default=18)
    exp.add_argument(
        "--quantize",
        choices=["int8"],
        help="also write an int8 model (static, calibrated on --check-images); "
        "the fp32 model goes to <out>-fp32.onnx",
    )
    exp.add_argument(
        "--check-images",
        nargs="+",
        metavar="INPUT",
        help="images, folders or globs for the parity check (default: synthetic)",
    )
    bench = sub.add_parser("bench", parents=_common(), help="measure training or prediction speed")
    bench.add_argument("task", choices=["train", "predict"])
    bench.add_argument("--model", default="unet", help="registered model name (random weights)")
    bench.add_argument("--input-size", type=int, default=256)
    bench.add_argument("--batch-size", type=int, default=8)
    bench.add_argument("--precision", choices=PRECISIONS, default="auto")
    bench.add_argument("--backend", choices=["torch", "onnx"], default="torch", help="predict only")
    bench.add_argument(
        "--data",
        action="append",
        metavar="ROOT",
        help="real images from this root (default: synthetic)",
    )
    bench.add_argument("--steps", type=int, default=10, help="timed training steps")
    bench.add_argument("--no-cache", action="store_true", help="decode images every step")
    bench.add_argument("--no-channels-last", action="store_true")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--json", metavar="OUT", help="write the result as JSON")
    doc = sub.add_parser(
        "doctor", parents=_common(), help="check the installation; each line OK or a fix"
    )
    doc.add_argument("--data", metavar="ROOT", help="also check this data root")
    return parser


def train_config(args: argparse.Namespace):
    """defaults < --config YAML < flags; with --resume the run's own config.yaml (+ --epochs)."""
    from personseg.config import TrainConfig

    if args.resume:
        fixed = (
            "config",
            "data",
            "model",
            "model_arg",
            "input_size",
            "init",
            "resize",
            "augment",
            "cutouts",
            "paste_prob",
            "backgrounds",
            "scenes",
            "negatives",
            "negatives_share",
            "composites",
            "portrait_prob",
            "batch_size",
            "lr",
            "weight_decay",
            "val_fraction",
            "seed",
            "out",
        )
        given = [f"--{k.replace('_', '-')}" for k in fixed if getattr(args, k) is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} cannot change when resuming: the run's "
                f"config.yaml holds them (only --epochs, --patience, --workers "
                f"and --device may be given with --resume)"
            )
        cfg = TrainConfig.load(Path(args.resume) / "config.yaml")
        values = cfg.to_dict()
        for key in ("epochs", "patience", "device", "precision", "accumulate", "sync_bn"):
            if getattr(args, key) is not None:
                values[key] = getattr(args, key)
        if args.workers is not None:
            values["data"]["num_workers"] = args.workers
        return TrainConfig.from_dict(values)
    values = TrainConfig.load(args.config).to_dict() if args.config else TrainConfig().to_dict()
    data, model = values["data"], values["model"]
    flags = {
        "input_size": args.input_size,
        "resize": args.resize,
        "val_fraction": args.val_fraction,
        "num_workers": args.workers,
        "cache": None if args.no_cache is None else not args.no_cache,
        "augment": args.augment,
        "cutouts": args.cutouts,
        "paste_prob": args.paste_prob,
        "backgrounds": args.backgrounds,
        "scenes": args.scenes,
        "negatives": args.negatives,
        "negatives_share": args.negatives_share,
        "composites": args.composites,
        "portrait_prob": args.portrait_prob,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    if args.data:
        data["roots"] = args.data
    if not data["roots"]:
        if not (Path("data/images").is_dir() and Path("data/masks").is_dir()):
            raise ValueError(
                "no training data: put pairs in data/images + data/masks, or pass "
                "--data ROOT (a folder with images/ and masks/)"
            )
        data["roots"] = ["data"]
    if args.model and args.model != model["name"]:
        model = {"name": args.model, "kwargs": {}}
    model["kwargs"] = {**model["kwargs"], **dict(args.model_arg or [])}
    top = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "precision": args.precision,
        "accumulate": args.accumulate,
        "sync_bn": args.sync_bn,
        "init": args.init,
        "out": args.out,
    }
    values.update({k: v for k, v in top.items() if v is not None})
    return TrainConfig.from_dict({**values, "data": data, "model": model})


def load_segmenter(args: argparse.Namespace, model: str | Path):
    """The model on the chosen backend; ``--backend onnx`` with a ``.pt`` exports it beside
    itself first (checked against PyTorch; once, until the ``.pt`` changes)."""
    from personseg.checkpoint import BUNDLED
    from personseg.inference.segmenter import Segmenter

    if args.input_size is not None and args.input_size < 1:
        raise ValueError(f"--input-size must be positive, got {args.input_size}")
    if args.backend == "onnx" and str(model) not in BUNDLED and Path(model).suffix != ".onnx":
        from personseg.export import onnx_for_checkpoint

        model = onnx_for_checkpoint(model)
    seg = Segmenter.load(model, args.backend, args.device, args.precision)
    seg.refine = args.refine
    if args.input_size is not None:
        seg.input_size = args.input_size  # checked against the model's size divisor
    return seg


def _cmd_export(args: argparse.Namespace) -> int:
    from personseg.export import export_onnx, quantize_onnx, slim_checkpoint
    from personseg.inference import collect_inputs

    if Path(args.out).suffix == ".pt":
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


def _cmd_bench(args: argparse.Namespace) -> int:
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


def launch_torchrun(nproc: int, argv: Sequence[str]) -> int:
    """Run this same command under ``torchrun --nproc-per-node nproc`` (one machine)."""
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "personseg",
        *rest,
    ]
    log.info("launching: %s", " ".join(cmd))
    return subprocess.call(cmd)


def _cmd_train(args: argparse.Namespace) -> int:
    from personseg.engine import fit
    from personseg.engine.distributed import (
        close_distributed,
        is_main_process,
        launched_by_torchrun,
    )

    if args.nproc > 1 and not launched_by_torchrun():
        return launch_torchrun(args.nproc, args.argv)
    done = False
    try:
        result = fit(train_config(args), resume=args.resume)
        main, done = is_main_process(), True
    finally:
        close_distributed(wait=done)
    if not main:
        return 0
    best = result["best_metrics"]
    print(
        f"best val Dice {best['val_dice']:.4f} (IoU {best['val_iou']:.4f}) at epoch "
        f"{result['best_epoch']}; run saved in {result['run_dir']}"
    )
    return 0


def _eval_samples(root: str, split: str | None):
    from personseg.data.splits import load_root, read_split, select

    samples = load_root(root)
    if split == "all":
        return samples, "all pairs"
    split_file = Path(split) if split else Path(root) / "val.txt"
    if split is None and not split_file.is_file():
        return samples, "all pairs (no val.txt)"
    return select(samples, read_split(split_file), str(split_file)), str(split_file)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from personseg.inference import evaluate_samples

    seg = load_segmenter(args, args.model)
    samples, what = _eval_samples(args.data, args.split)
    log.info("scoring %d images of %s", len(samples), what)
    result = evaluate_samples(
        seg, samples, args.threshold, args.boundary_tol, args.csv, args.gallery
    )
    result.update({"model": str(args.model), "data": str(args.data), "split": what})
    print(
        f"{result['n_images']} images ({what}): mean IoU {result['mean_iou']:.4f}, "
        f"mean Dice {result['mean_dice']:.4f}, pooled IoU {result['pooled_iou']:.4f}, "
        f"boundary F1 {result['mean_boundary_f1']:.4f}, {result['ms_per_image']:.1f} ms/image"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from personseg.inference import collect_inputs, predict_files

    paths = collect_inputs(args.inputs)
    options = _effect_options(args)
    seg = load_segmenter(args, args.model)
    result = predict_files(
        seg,
        paths,
        args.out,
        args.visualize,
        args.threshold,
        args.batch_size,
        args.effect or ["mask"],
        options,
    )
    print(
        f"wrote {len(result['written'])} file(s) to {args.out} "
        f"({result['ms_per_image']:.1f} ms/image)"
    )
    if result["failed"]:
        print(f"skipped {len(result['failed'])} unreadable image(s)", file=sys.stderr)
        return 1
    return 0


def _cmd_video(args: argparse.Namespace) -> int:
    from personseg.inference.video import remux_audio, segment_video

    options = _effect_options(args)
    seg = load_segmenter(args, args.model)
    r = segment_video(
        seg,
        args.input,
        args.out,
        args.effect,
        args.smoothing,
        args.batch_size,
        progress=not args.quiet,
        threshold=args.threshold if args.threshold is not None else seg.threshold,
        **options,
    )
    audio = not args.no_audio and remux_audio(args.input, args.out)
    print(
        f"wrote {r['output']}: {r['frames']} frames, {r['size'][0]}x{r['size'][1]} at "
        f"{r['fps']:.2f} fps ({r['frames_per_s']:.1f} frames/s; audio "
        f"{'copied' if audio else 'not copied: OpenCV drops it, ffmpeg copies it back'})"
    )
    if args.stats:
        print(f"flicker (mean |change| of the probability on still pixels): {r['flicker']:.5f}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


def _cmd_webcam(args: argparse.Namespace) -> int:
    from personseg.inference.video import run_webcam

    options = _effect_options(args)
    seg = load_segmenter(args, args.model)
    try:
        run_webcam(seg, args.camera, args.effect, args.smoothing, **options)
    except RuntimeError as err:
        print(f"personseg webcam: error: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from personseg.inference import Segmenter
    from personseg.inference.run import sample_image, write_demo

    image = Path(args.image) if args.image else sample_image()
    t0 = time.perf_counter()
    seg = Segmenter.load(args.model, args.backend)
    load_s = time.perf_counter() - t0
    r = write_demo(seg, image, args.out)
    print(
        f"{image.name}: person segmented in {r['ms']:.0f} ms ({seg.backend}; model loaded "
        f"in {load_s:.1f} s)"
    )
    for path in r["written"]:
        print(f"  {path}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from personseg.data import check_data, check_negatives

    if not args.roots and not args.negatives:
        raise ValueError("give a data ROOT to check, or --negatives DIR")
    reports = [check_data(r) for r in args.roots] + [check_negatives(n) for n in args.negatives]
    for report in reports:
        print(report.format())
    return 0 if all(r.ok for r in reports) else 1


def _cmd_doctor(args: argparse.Namespace) -> int:
    from personseg.doctor import doctor

    return doctor(args.data)


COMMANDS = {
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "data": _cmd_data,
    "doctor": _cmd_doctor,
    "export": _cmd_export,
    "bench": _cmd_bench,
    "video": _cmd_video,
    "webcam": _cmd_webcam,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]  # our messages only; other libraries keep their defaults
    other_rank = int(os.environ.get("RANK", "0")) > 0  # under torchrun only rank 0 talks
    log.setLevel(logging.WARNING if args.quiet or other_rank else logging.INFO)
    log.propagate = False
    try:
        return COMMANDS[args.command](args)
    except (ValueError, OSError, FloatingPointError) as err:
        print(f"personseg {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "; last.pt holds the last finished epoch: continue with --resume RUN_DIR"
        print(
            f"personseg {args.command}: interrupted" + (hint if args.command == "train" else ""),
            file=sys.stderr,
        )
        return 130
