"""``personseg train``: the run's config from defaults < ``--config`` YAML < flags, then fit.

The flags of the data and training settings are made from the fields of
:class:`~personseg.config.DataConfig` and :class:`~personseg.config.TrainConfig` (their metadata
holds the help, the choices and whether a setting may change on ``--resume``), so a new
setting cannot miss its flag or be read from the wrong one.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from personseg.cli.common import quiet_flag
from personseg.config import DataConfig, TrainConfig

log = logging.getLogger("personseg")

# flags that are no config field; none of them may be given with --resume
OTHER_FIXED = {"--config": "config", "--model": "model", "--model-arg": "model_arg"}


def setting_fields() -> list[Field]:
    """The DataConfig and TrainConfig fields that are train flags (those with a help text)."""
    return [f for cls in (DataConfig, TrainConfig) for f in fields(cls) if "help" in f.metadata]


def flag_name(f: Field) -> str:
    """``--`` + the field name with ``-`` for ``_`` (``--no-`` for a bool on by default)."""
    if "flag" in f.metadata:
        return f.metadata["flag"]
    return ("--no-" if f.default is True else "--") + f.name.replace("_", "-")


def _add_setting(p: argparse.ArgumentParser, f: Field) -> None:
    """The flag of one setting, typed by its default; None when not given."""
    name, meta = flag_name(f), f.metadata
    kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": meta["help"]}
    if isinstance(f.default, bool):
        kwargs.update(action="store_const", const=not f.default)
    elif "choices" in meta:
        kwargs.update(type=type(f.default), choices=meta["choices"])
    else:
        kwargs["metavar"] = meta.get("metavar", name[2:].replace("-", "_").upper())
        if isinstance(f.default, tuple):
            kwargs["action"] = "append"
        else:
            kwargs["type"] = type(f.default)
    p.add_argument(name, **kwargs)


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        parents=quiet_flag(),
        help="train a model on image/mask folders",
        description="Train a segmentation model. Flags override --config values.",
    )
    p.add_argument("--config", help="YAML run file (see configs/)")
    p.add_argument("--model", help="registered model name (default unet)")
    p.add_argument(
        "--model-arg",
        action="append",
        type=_model_arg,
        metavar="KEY=VALUE",
        help="model keyword argument, e.g. bilinear=false or base_channels=48",
    )
    for f in setting_fields():
        _add_setting(p, f)
    p.add_argument("--img-size", dest="input_size", type=int, help=argparse.SUPPRESS)  # old name
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes on this machine: launches torchrun --nproc-per-node N "
        "(one per GPU; Gloo on CPUs)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (its config; --epochs may raise the total)",
    )
    p.set_defaults(run=run)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """defaults < --config YAML < flags; with --resume the run's own config.yaml < the flags
    of the settings that may change on resume (any other flag is an error)."""
    if args.resume:
        _check_resume_flags(args)
        if not Path(args.resume).is_dir():
            raise FileNotFoundError(
                f"run directory not found: {args.resume} (--resume takes the folder a run "
                "writes: config.yaml, last.pt)"
            )
        return _with_flags(TrainConfig.load(Path(args.resume) / "config.yaml"), args)
    cfg = _with_flags(TrainConfig.load(args.config) if args.config else TrainConfig(), args)
    if cfg.data.roots:
        return cfg
    if not (Path("data/images").is_dir() and Path("data/masks").is_dir()):
        raise ValueError(
            "no training data: put pairs in data/images + data/masks, or pass "
            "--data ROOT (a folder with images/ and masks/)"
        )
    return replace(cfg, data=replace(cfg.data, roots=("data",)))


def _with_flags(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """``cfg`` with the flags given; checked (model name, sizes...) before any data is read."""
    values = cfg.to_dict()
    data_names = {f.name for f in fields(DataConfig)}
    for f in setting_fields():
        if getattr(args, f.name) is not None:
            (values["data"] if f.name in data_names else values)[f.name] = getattr(args, f.name)
    model = values["model"]
    if args.model and args.model != model["name"]:
        model = {"name": args.model, "kwargs": {}}
    model["kwargs"] = {**model["kwargs"], **dict(args.model_arg or [])}
    return TrainConfig.from_dict({**values, "model": model})


def _check_resume_flags(args: argparse.Namespace) -> None:
    flags = [(flag, dest, False) for flag, dest in OTHER_FIXED.items()]
    flags += [(flag_name(f), f.name, f.metadata.get("resume", False)) for f in setting_fields()]
    given = [flag for flag, dest, may in flags if not may and getattr(args, dest) is not None]
    if given:
        allowed = [flag for flag, _, may in flags if may]
        raise ValueError(
            f"{', '.join(given)} cannot change when resuming: the run's config.yaml holds "
            f"them (only {', '.join(allowed[:-1])} and {allowed[-1]} may be given with --resume)"
        )


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


def run(args: argparse.Namespace) -> int:
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
    if main:
        best = result["best_metrics"]
        print(
            f"best val Dice {best['val_dice']:.4f} (IoU {best['val_iou']:.4f}) at epoch "
            f"{result['best_epoch']}; run saved in {result['run_dir']}"
        )
    if launched_by_torchrun():
        leave_now(0)
    return 0


def leave_now(code: int) -> NoReturn:
    """End a torchrun process once its work is written, skipping the interpreter's teardown.

    Rank 0 sometimes aborted at exit after a finished run ("terminate called without an
    active exception", exit -6; seen in several full test runs here): Gloo's threads are torn
    down with the interpreter even after ``destroy_process_group`` (pytorch/pytorch#179291
    describes the same abort). Every file is closed by now (checkpoints are written
    atomically), so only the buffered output needs flushing.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
