"""``fit``: a whole training run as small steps (prepare the run directory, build loaders,
build the model, restore, one epoch, validate, save), after torchvision's segmentation
references and litgpt's fine-tuning scripts.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from personseg.checkpoint import Checkpoint, ModelSpec, load_checkpoint
from personseg.config import TrainConfig
from personseg.device import Runtime
from personseg.engine.distill import Teacher
from personseg.engine.distributed import (
    backend,
    broadcast_buffers,
    init_distributed,
    is_dist,
    is_main_process,
    rank,
    unwrap,
    world_size,
)
from personseg.engine.loaders import Loaders, build_loaders
from personseg.engine.loop import check_same_weights, evaluate, false_positives, train_one_epoch
from personseg.engine.state import grad_scaler, rng_state, seed_everything, set_rng_state
from personseg.losses import CombinedLoss
from personseg.models import create_model
from personseg.viz import plot_curves

log = logging.getLogger("personseg")

CSV_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_dice",
    "train_iou",
    "val_loss",
    "val_dice",
    "val_iou",
    "val_precision",
    "val_recall",
    "val_boundary_f1",
    "val_neg_flagged",
    "val_neg_marked",
    "epoch_seconds",
    "train_images_per_s",
    "data_wait",
)


def _lr_factor(cfg: TrainConfig):
    """Cosine decay from 1 to ``min_lr_ratio`` over ``cfg.epochs`` (stepped once per epoch)."""

    def factor(epoch: int) -> float:
        t = min(epoch / max(cfg.epochs - 1, 1), 1.0)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def model_spec(cfg: TrainConfig) -> ModelSpec:
    """What a checkpoint of this run says about its model."""
    d = cfg.data
    return ModelSpec(
        name=cfg.model.name,
        kwargs=dict(cfg.model.kwargs),
        input_size=d.input_size,
        resize=d.resize,
        mean=d.mean,
        std=d.std,
        threshold=cfg.threshold,
    )


def init_weights(model: nn.Module, start: Checkpoint, cfg: TrainConfig) -> None:
    """Load the weights of ``start`` (the checkpoint ``cfg.init`` names) into ``model``; the
    architecture must be the same."""
    if start.spec.name != cfg.model.name:
        raise ValueError(
            f"--init {cfg.init} holds a {start.spec.name!r} model, but this run trains "
            f"{cfg.model.name!r}; pass --model {start.spec.name} (and its --model-arg)"
        )
    try:
        model.load_state_dict(start.state_dict)
    except RuntimeError as err:
        reason = str(err).splitlines()[0]
        raise ValueError(
            f"--init {cfg.init} does not fit this model's shape ({reason}); use the same "
            "--model-arg values it was trained with"
        ) from None
    log.info("weights initialised from %s (epoch %s)", cfg.init, start.epoch)


def default_run_dir() -> Path:
    return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


def _write_csv(history: list[dict[str, Any]], path: Path) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)


@dataclass
class Run:
    """The state of a run that changes as it trains (what ``last.pt`` keeps)."""

    cfg: TrainConfig
    run_dir: Path
    model: nn.Module  # unwrapped, on the device
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -1.0
    best_epoch: int = 0
    start_epoch: int = 1


def prepare_run(
    cfg: TrainConfig, resume: str | Path | None
) -> tuple[TrainConfig, Checkpoint | None]:
    """The run directory checked (a new run never overwrites one; a resumed one has epochs
    left), and the ``last.pt`` to resume from."""
    if resume is None:
        run_dir = Path(cfg.out) if cfg.out else default_run_dir()
        if (run_dir / "last.pt").exists():
            raise ValueError(
                f"{run_dir} already holds a run; continue it with --resume "
                f"{run_dir} or choose another --out"
            )
        return replace(cfg, out=str(run_dir)), None
    run_dir = Path(resume)
    last = load_checkpoint(run_dir / "last.pt")
    if last.epoch >= cfg.epochs:
        raise ValueError(
            f"{run_dir} already finished epoch {last.epoch} of {cfg.epochs}; pass "
            f"--epochs N with N > {last.epoch} to train further"
        )
    return replace(cfg, out=str(run_dir)), last


def starting_weights(cfg: TrainConfig) -> tuple[TrainConfig, Checkpoint | None]:
    """The checkpoint ``cfg.init`` names, and the config with its normalisation (the weights
    were trained with it)."""
    if not cfg.init:
        return cfg, None
    start = load_checkpoint(cfg.init)
    mean, std = start.spec.mean, start.spec.std
    if (mean, std) != (cfg.data.mean, cfg.data.std):
        log.info("normalisation taken from %s: mean %s, std %s", cfg.init, mean, std)
        cfg = replace(cfg, data=replace(cfg.data, mean=mean, std=std))
    return cfg, start


def build_model(cfg: TrainConfig, rt: Runtime, start: Checkpoint | None) -> nn.Module:
    """The registered model on the device, from ``start``'s weights when fine-tuning."""
    kwargs = dict(cfg.model.kwargs)
    if cfg.init and "pretrained" in kwargs:
        kwargs["pretrained"] = False  # every weight comes from cfg.init
    net = create_model(cfg.model.name, **kwargs)
    if start is not None:
        init_weights(net, start, cfg)
    model = rt.prepare(net)
    if cfg.sync_bn and is_dist():
        if rt.device.type != "cuda":
            raise ValueError(
                "--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm runs on GPUs "
                "only); leave it out on CPUs"
            )
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def build_run(cfg: TrainConfig, rt: Runtime, model: nn.Module, last: Checkpoint | None) -> Run:
    """Optimizer, schedule and loss scaling for ``model``; restored from ``last`` when
    resuming."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg))
    run = Run(cfg, Path(cfg.out), model, optimizer, scheduler, grad_scaler(rt.device, rt.precision))
    if last is None:
        return run
    state = last.training
    model.load_state_dict(last.state_dict)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    # the schedule of this config (--epochs may have changed), at the epoch reached
    factor = _lr_factor(cfg)(scheduler.last_epoch)
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["lr"] = base * factor
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    run.history, run.best_score = list(state["history"]), state["best_score"]
    run.best_epoch, run.start_epoch = state["best_epoch"], last.epoch + 1
    log.info(
        "resuming %s at epoch %d (best val Dice %.4f at epoch %d)",
        run.run_dir,
        run.start_epoch,
        run.best_score,
        run.best_epoch,
    )
    return run


def distributed_model(model: nn.Module, rt: Runtime) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel under torchrun (after loading: DDP starts
    every rank from rank 0's weights), else itself."""
    if not is_dist():
        return model
    ids = [rt.device.index] if rt.device.type == "cuda" else None
    log.info("distributed: %d processes (%s)", world_size(), backend())
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def run_epoch(
    run: Run,
    epoch: int,
    train_model: nn.Module,
    loaders: Loaders,
    rt: Runtime,
    loss_fn: nn.Module,
    teacher: Teacher | None = None,
) -> dict[str, Any]:
    """Train one epoch, validate, step the schedule; the epoch's ``metrics.csv`` row."""
    cfg = run.cfg
    if loaders.train.generator is not None:
        loaders.train.generator.manual_seed(cfg.seed + epoch)
    else:
        loaders.train.sampler.set_epoch(epoch)
    loaders.train_set.reseed(cfg.seed + epoch + 100_003 * rank())
    t0 = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    tr = train_one_epoch(
        train_model,
        loaders.train,
        loss_fn,
        run.optimizer,
        rt,
        run.scaler,
        cfg.threshold,
        desc=f"epoch {epoch}/{cfg.epochs}",
        accumulate=cfg.accumulate,
        teacher=teacher,
        distill=cfg.distill,
        distill_below=loaders.photos if cfg.distill_on == "photos" else None,
    )
    broadcast_buffers(run.model)  # every rank validates the weights rank 0 saves
    va = evaluate(run.model, loaders.val, loss_fn, rt, cfg.threshold)
    fp = {}
    if loaders.negatives is not None:
        fp = false_positives(run.model, loaders.negatives, rt, cfg.threshold)
    run.scheduler.step()
    return {
        "epoch": epoch,
        "lr": lr,
        "train_loss": tr["loss"],
        "train_dice": tr["mean_dice"],
        "train_iou": tr["mean_iou"],
        "val_loss": va["loss"],
        "val_dice": va["mean_dice"],
        "val_iou": va["mean_iou"],
        "val_precision": va["mean_precision"],
        "val_recall": va["mean_recall"],
        "val_boundary_f1": va["mean_boundary_f1"],
        **({"val_neg_flagged": fp["flagged"], "val_neg_marked": fp["marked"]} if fp else {}),
        "epoch_seconds": time.perf_counter() - t0,
        "train_images_per_s": tr["images_per_s"],  # every process's images (train_one_epoch)
        "data_wait": tr["data_wait"],
    }


def save_epoch(run: Run, row: dict[str, Any], improved: bool) -> None:
    """``best.pt`` when improved, ``last.pt`` (with the training state), ``metrics.csv``,
    ``curves.png`` and the epoch's log line (rank 0 only)."""
    spec, epoch = model_spec(run.cfg), row["epoch"]
    metrics = {k: float(v) for k, v in row.items()}
    state = unwrap(run.model).state_dict()
    config = run.cfg.to_dict()
    if improved:
        Checkpoint(spec, state, metrics, epoch, config).save(run.run_dir / "best.pt")
    training = {
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng": rng_state(),
        "history": run.history,
        "best_score": run.best_score,
        "best_epoch": run.best_epoch,
    }
    Checkpoint(spec, state, metrics, epoch, config, training).save(run.run_dir / "last.pt")
    _write_csv(run.history, run.run_dir / "metrics.csv")
    plot_curves(run.history, run.run_dir / "curves.png")
    negatives = row.get("val_neg_flagged")
    tqdm.write(
        f"epoch {epoch}/{run.cfg.epochs}  loss {row['train_loss']:.4f}  "
        f"val loss {row['val_loss']:.4f}  val Dice {row['val_dice']:.4f}  "
        f"val IoU {row['val_iou']:.4f}  "
        + (f"negatives flagged {negatives:.1%}  " if negatives is not None else "")
        + f"{row['train_images_per_s']:.1f} img/s  {row['epoch_seconds']:.0f}s"
        + ("  *best*" if improved else "")
    )


def fit(cfg: TrainConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Train a model as ``cfg`` says; with ``resume``, continue the run in that directory.

    Writes ``config.yaml``, ``last.pt`` (every epoch), ``best.pt`` (best val Dice, per-image
    mean), ``metrics.csv`` and ``curves.png`` into the run directory.

    Returns:
        ``run_dir``, ``best_epoch``, ``best_metrics``, ``epochs_run``, ``stopped_early``.
    """
    cfg, last = prepare_run(cfg, resume)
    cfg, start = starting_weights(cfg) if last is None else (cfg, None)
    rt = Runtime.create(init_distributed(cfg.device), cfg.precision, cfg.channels_last)
    teacher = Teacher.load(cfg, rt) if cfg.teacher else None  # a bad teacher fails first
    seed_everything(cfg.seed + 1_000_003 * rank())  # ranks draw different synthetic samples
    loaders = build_loaders(cfg)
    log.info("device %s, precision %s, channels_last %s", rt.device, rt.precision, rt.channels_last)
    run = build_run(cfg, rt, build_model(cfg, rt, start), last)
    train_model = distributed_model(run.model, rt)
    loss_fn = CombinedLoss(cfg.loss_alpha)
    if teacher is not None:
        which = "each photo's target" if cfg.distill_on == "photos" else "each target"
        log.info("distilling from %s (%.0f %% of %s)", cfg.teacher, 100 * cfg.distill, which)
    if is_main_process():
        run.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run.run_dir / "config.yaml")
        log.info(
            "run directory: %s (continue an interrupted run with --resume %s)", *[run.run_dir] * 2
        )
    stopped_early, epoch = False, run.start_epoch - 1
    for epoch in range(run.start_epoch, cfg.epochs + 1):
        row = run_epoch(run, epoch, train_model, loaders, rt, loss_fn, teacher)
        run.history.append(row)
        improved = row["val_dice"] > run.best_score
        if improved:
            run.best_score, run.best_epoch = row["val_dice"], epoch
        if is_main_process():
            save_epoch(run, row, improved)
        if cfg.patience and epoch - run.best_epoch >= cfg.patience:
            stopped_early = True
            log.info("early stop: no better val Dice for %d epochs", cfg.patience)
            break
    if is_dist():
        check_same_weights(run.model)
    return {
        "run_dir": str(run.run_dir),
        "best_epoch": run.best_epoch,
        "best_metrics": next(r for r in run.history if r["epoch"] == run.best_epoch),
        "epochs_run": epoch - run.start_epoch + 1,
        "stopped_early": stopped_early,
    }
