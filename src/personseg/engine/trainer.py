"""The training loop as plain functions: ``train_one_epoch``, ``evaluate``, and ``fit`` which
orchestrates a whole run (data, model, optimiser, schedule, checkpoints, logs, resume).

Validation scores during training are computed at the training input size (masks resized with
nearest neighbour); ``personseg evaluate`` scores at the ground truth's own resolution.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from personseg.config import DataConfig, TrainConfig
from personseg.data import Sample, SegmentationDataset, eval_transform, make_loader, split_roots
from personseg.data import train_transform as train_preset
from personseg.data.splits import negative_split
from personseg.data.synth import (
    Concat,
    NegativeDataset,
    PastePeople,
    PeopleSource,
    PersonFreeDataset,
    PortraitCrop,
    SceneDataset,
    background_files,
    load_cutouts,
    load_photos,
)
from personseg.engine.amp import Runtime, grad_scaler
from personseg.engine.checkpoint import (
    FORMAT,
    atomic_save,
    load_checkpoint,
    rng_state,
    set_rng_state,
    versions,
)
from personseg.engine.distributed import (
    any_rank,
    backend,
    broadcast_buffers,
    gather_rows,
    init_distributed,
    is_dist,
    is_main_process,
    rank,
    sum_across,
    unwrap,
    world_size,
)
from personseg.losses import CombinedLoss
from personseg.metrics import MetricAccumulator, confusion_counts, scores_from_counts
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    rt: Runtime,
    scaler: torch.amp.GradScaler | None = None,
    threshold: float = 0.5,
    desc: str = "train",
    accumulate: int = 1,
) -> dict[str, float]:
    """One pass over ``loader``.

    Returns:
        Mean loss, per-image mean Dice/IoU on the augmented training batches, images per
        second (data loading included) and ``data_wait``, the share of the epoch spent
        waiting for the loader. With ``accumulate`` K the optimizer steps every K batches (and
        after the last one); under DDP gradients are synchronised only on those steps.
    """
    n_batches = len(loader) if hasattr(loader, "__len__") else None
    if accumulate > 1 and n_batches is None:
        raise ValueError("gradient accumulation needs a loader with a length")
    scaler = scaler or torch.amp.GradScaler(enabled=False)
    model.train()
    loss_sum, n_images, counts, waited = 0.0, 0, [], 0.0
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, leave=False, disable=not is_main_process(), dynamic_ncols=True)
    ready = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    for i, (images, masks, _) in enumerate(bar):
        waited += time.perf_counter() - ready
        images, masks = rt.images(images), masks.to(rt.device)  # (N, 3, S, S), (N, 1, S, S)
        step = (i + 1) % accumulate == 0 or i + 1 == n_batches
        # DDP all-reduces gradients in backward; skip that on accumulation-only batches
        sync = (
            contextlib.nullcontext() if step or not hasattr(model, "no_sync") else model.no_sync()
        )
        with sync:
            with rt.autocast():
                logits = model(images)  # (N, 1, S, S)
            loss = loss_fn(logits, masks)  # fp32
            if any_rank(not torch.isfinite(loss).item()):  # every rank stops together
                raise FloatingPointError(
                    f"the loss became {loss.item()} (on this or another process); lower --lr "
                    f"or check the data with `personseg data check`"
                )
            scaler.scale(loss / accumulate).backward()
        if step:
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        n = images.shape[0]
        loss_sum += loss.item() * n
        n_images += n
        with torch.no_grad():
            pred = (logits > math.log(threshold / (1 - threshold))).squeeze(1).cpu().numpy()
            counts.append(confusion_counts(pred, masks.squeeze(1).cpu().numpy() > 0.5))
        elapsed = time.perf_counter() - start
        bar.set_postfix(loss=f"{loss_sum / n_images:.4f}", img_s=f"{n_images / elapsed:.1f}")
        ready = time.perf_counter()
    if n_images == 0:
        raise ValueError("the training split has no batch; add images or lower --batch-size")
    scores = scores_from_counts(np.concatenate(counts))
    elapsed = time.perf_counter() - start
    return {
        "loss": loss_sum / n_images,
        "dice": float(scores["dice"].mean()),
        "iou": float(scores["iou"].mean()),
        "images_per_s": n_images / elapsed,
        "data_wait": waited / elapsed,
    }


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader | Iterable,
    loss_fn: nn.Module,
    rt: Runtime,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Loss (mean over images) and :class:`MetricAccumulator` scores over every image of
    ``loader``; no image is dropped. Under torchrun the figures cover every process's images.
    """
    model.eval()
    acc = MetricAccumulator(threshold)
    loss_sum, n_images = 0.0, 0
    for images, masks, _ in loader:
        images, masks = rt.images(images), masks.to(rt.device)
        with rt.autocast():
            logits = model(images)
        loss_sum += loss_fn(logits, masks).item() * images.shape[0]
        n_images += images.shape[0]
        acc.update(torch.sigmoid(logits.float()), masks)
    # under torchrun each process scored its share: merge the counts, then score once
    acc.rows = list(gather_rows(acc.counts))
    loss_sum, n_images = sum_across([loss_sum, n_images])
    return {"loss": loss_sum / max(n_images, 1), **acc.compute()}


def check_same_weights(model: nn.Module) -> None:
    """Raise if the processes' weights have drifted apart (they must be equal under DDP)."""
    total = sum(p.detach().double().sum().item() for p in model.parameters())
    sums = gather_rows(np.array([[total]]))[:, 0]
    if not np.all(sums == sums[0]):
        raise RuntimeError(f"the processes' weights differ (parameter sums {sums.tolist()})")
    log.info("weights identical on all %d processes", len(sums))


def _lr_factor(cfg: TrainConfig):
    """Cosine decay from 1 to ``min_lr_ratio`` over ``cfg.epochs`` (stepped once per epoch)."""

    def factor(epoch: int) -> float:
        t = min(epoch / max(cfg.epochs - 1, 1), 1.0)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def _checkpoint(
    model: nn.Module, cfg: TrainConfig, epoch: int, metrics: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    name = cfg.model.name
    return {
        "format": FORMAT,
        "model": {"name": name, "kwargs": dict(cfg.model.kwargs)},
        "state_dict": unwrap(model).state_dict(),
        "input_size": cfg.data.img_size,
        "resize": cfg.data.resize,
        "normalization": {"mean": list(cfg.data.mean), "std": list(cfg.data.std)},
        "threshold": cfg.threshold,
        "metrics": metrics,
        "epoch": epoch,
        "versions": versions(),
        "config": cfg.to_dict(),
        **extra,
    }


def init_weights(model: nn.Module, start: dict[str, Any], cfg: TrainConfig) -> None:
    """Load the weights of ``start`` (the checkpoint ``cfg.init`` names) into ``model``; the
    architecture must be the same."""
    if start["model"]["name"] != cfg.model.name:
        raise ValueError(
            f"--init {cfg.init} holds a {start['model']['name']!r} model, but this run trains "
            f"{cfg.model.name!r}; pass --model {start['model']['name']} (and its --model-arg)"
        )
    try:
        model.load_state_dict(start["state_dict"])
    except RuntimeError as err:
        reason = str(err).splitlines()[0]
        raise ValueError(
            f"--init {cfg.init} does not fit this model's shape ({reason}); use the same "
            "--model-arg values it was trained with"
        ) from None
    log.info("weights initialised from %s (epoch %s)", cfg.init, start.get("epoch"))


def training_set(
    d: DataConfig, samples: list[Sample], transform: Callable[..., dict], cache: int | None
) -> Dataset:
    """The training photos (portrait crops with ``d.portrait_prob``, else copy-paste with
    ``d.paste_prob``), plus per epoch: ``d.scenes`` samples from person-free backgrounds,
    ``d.composites`` negatives or backgrounds with people pasted beside their subject, and the
    negatives' train photos with empty masks as ``d.negatives_share`` of the epoch."""
    cutouts = load_cutouts(d.cutouts) if d.cutouts else []
    paste = PastePeople(cutouts, d.paste_prob) if d.paste_prob > 0 else None
    augment = PortraitCrop(d.portrait_prob, then=paste) if d.portrait_prob > 0 else paste
    photos = SegmentationDataset(samples, transform, cache, pair_augment=augment)
    parts: list[Dataset] = [photos]
    backgrounds: list[np.ndarray] = []
    if d.backgrounds:
        paths, held = background_files(d.backgrounds, d.backgrounds_holdout)
        backgrounds = load_photos(paths, cache)
        log.info("%d backgrounds for training (%d held out)", len(backgrounds), len(held))
    if d.scenes:
        parts.append(SceneDataset(backgrounds, cutouts, transform, d.scenes))
    negatives = [p for root in d.negatives for p in negative_split(root, "train")]
    neg_images = load_photos(negatives, cache) if negatives else []
    if d.composites:
        scenes = neg_images + backgrounds
        if not scenes:
            raise ValueError(
                "composites need photos to paste people into: the negatives' train split "
                "and the backgrounds are empty"
            )
        people = PeopleSource(photos, cutouts)
        parts.append(PersonFreeDataset(scenes, transform, d.composites, people))
    if neg_images and d.negatives_share > 0:
        others = sum(len(p) for p in parts)
        length = round(d.negatives_share / (1 - d.negatives_share) * others)
        parts.append(PersonFreeDataset(neg_images, transform, length))
    log.info(
        "per epoch: %d photos (portrait crops %.0f %%), %d background scenes, %d composites, "
        "%d negatives (from %d photos)",
        len(photos),
        100 * d.portrait_prob,
        d.scenes,
        d.composites,
        len(parts[-1]) if neg_images and d.negatives_share > 0 else 0,
        len(neg_images),
    )
    return Concat(parts) if len(parts) > 1 else photos


def negative_val_set(d: DataConfig, transform: Callable[..., dict]) -> Dataset | None:
    """The negatives' ``val.txt`` photos with empty masks (``None`` without any)."""
    paths = [p for root in d.negatives for p in negative_split(root, "val")]
    if not paths:
        return None
    return NegativeDataset(paths, transform)


@torch.inference_mode()
def false_positives(
    model: nn.Module, loader: Iterable, rt: Runtime, threshold: float = 0.5, limit: float = 0.01
) -> dict[str, float]:
    """On photos with nobody in them: the share of photos with more than ``limit`` of the
    model input's pixels marked (``flagged``; a letterbox's padding counts as input), and the
    mean marked share (``marked``), over every process."""
    model.eval()
    cut = math.log(threshold / (1 - threshold))
    fractions = []
    for images, _, _ in loader:
        with rt.autocast():
            logits = model(rt.images(images))
        fractions.append((logits.float() > cut).flatten(1).float().mean(1).cpu().numpy())
    rows = gather_rows(np.concatenate(fractions)[:, None] if fractions else np.zeros((0, 1)))
    marked = rows[:, 0]
    return {"flagged": float((marked > limit).mean()), "marked": float(marked.mean())}


def default_run_dir() -> Path:
    return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


def _write_csv(history: list[dict[str, Any]], path: Path) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)


def fit(cfg: TrainConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Train a model as ``cfg`` says; with ``resume``, continue the run in that directory.

    Writes ``config.yaml``, ``last.pt`` (every epoch), ``best.pt`` (best val Dice, per-image
    mean), ``metrics.csv`` and ``curves.png`` into the run directory.

    Returns:
        ``run_dir``, ``best_epoch``, ``best_metrics``, ``epochs_run``, ``stopped_early``.
    """
    ckpt = None
    if resume is not None:
        run_dir = Path(resume)
        ckpt = load_checkpoint(run_dir / "last.pt")
        if ckpt["epoch"] >= cfg.epochs:
            raise ValueError(
                f"{run_dir} already finished epoch {ckpt['epoch']} of {cfg.epochs}; pass "
                f"--epochs N with N > {ckpt['epoch']} to train further"
            )
    else:
        run_dir = Path(cfg.out) if cfg.out else default_run_dir()
        if (run_dir / "last.pt").exists():
            raise ValueError(
                f"{run_dir} already holds a run; continue it with --resume "
                f"{run_dir} or choose another --out"
            )
    cfg = replace(cfg, out=str(run_dir))
    start = load_checkpoint(cfg.init) if cfg.init and ckpt is None else None
    if start is not None:
        norm = start["normalization"]
        mean, std = tuple(norm["mean"]), tuple(norm["std"])
        if (mean, std) != (cfg.data.mean, cfg.data.std):
            log.info("normalisation taken from %s: mean %s, std %s", cfg.init, mean, std)
            cfg = replace(cfg, data=replace(cfg.data, mean=mean, std=std))
    rt = Runtime.create(init_distributed(cfg.device), cfg.precision, cfg.channels_last)
    seed_everything(cfg.seed + 1_000_003 * rank())  # ranks draw different synthetic samples

    d = cfg.data
    train_samples, val_samples = split_roots(d.roots, d.val_fraction, cfg.seed)
    log.info(
        "data: %d training and %d validation images from %s",
        len(train_samples),
        len(val_samples),
        ", ".join(d.roots),
    )
    cache = round(d.img_size * 1.25) if d.cache else None
    train_tf = train_preset(d.img_size, d.resize, d.mean, d.std, d.augment)
    train_ds = training_set(d, train_samples, train_tf, cache)
    val_ds = SegmentationDataset(
        val_samples, eval_transform(d.img_size, d.resize, d.mean, d.std), cache
    )
    neg_ds = negative_val_set(d, eval_transform(d.img_size, d.resize, d.mean, d.std))
    shard = {"rank": rank(), "world": world_size()}
    train_loader = make_loader(train_ds, cfg.batch_size, True, d.num_workers, cfg.seed, **shard)
    val_loader = make_loader(val_ds, cfg.batch_size, False, d.num_workers, **shard)
    neg_loader = None  # every rank scores its share, an empty one included (gather_rows)
    if neg_ds is not None:
        neg_loader = make_loader(neg_ds, cfg.batch_size, False, d.num_workers, **shard)

    log.info("device %s, precision %s, channels_last %s", rt.device, rt.precision, rt.channels_last)
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
    scaler = grad_scaler(rt.device, rt.precision)
    loss_fn = CombinedLoss(cfg.loss_alpha)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg))
    history: list[dict[str, Any]] = []
    best_score, best_epoch, start_epoch = -1.0, 0, 1
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        history, best_score = list(ckpt["history"]), ckpt["best_score"]
        best_epoch, start_epoch = ckpt["best_epoch"], ckpt["epoch"] + 1
        log.info(
            "resuming %s at epoch %d (best val Dice %.4f at epoch %d)",
            run_dir,
            start_epoch,
            best_score,
            best_epoch,
        )

    train_model = model
    if is_dist():  # after loading: DDP starts every rank from rank 0's weights
        ids = [rt.device.index] if rt.device.type == "cuda" else None
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        log.info("distributed: %d processes (%s)", world_size(), backend())

    main = is_main_process()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.yaml")
        log.info(
            "run directory: %s (continue an interrupted run with --resume %s)", run_dir, run_dir
        )
    stopped_early, epoch = False, start_epoch - 1
    for epoch in range(start_epoch, cfg.epochs + 1):
        if train_loader.generator is not None:
            train_loader.generator.manual_seed(cfg.seed + epoch)
        else:
            train_loader.sampler.set_epoch(epoch)
        train_ds.reseed(cfg.seed + epoch + 100_003 * rank())
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        tr = train_one_epoch(
            train_model,
            train_loader,
            loss_fn,
            optimizer,
            rt,
            scaler,
            cfg.threshold,
            desc=f"epoch {epoch}/{cfg.epochs}",
            accumulate=cfg.accumulate,
        )
        broadcast_buffers(model)  # every rank validates the weights rank 0 saves
        va = evaluate(model, val_loader, loss_fn, rt, cfg.threshold)
        fp = {} if neg_loader is None else false_positives(model, neg_loader, rt, cfg.threshold)
        scheduler.step()
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": tr["loss"],
            "train_dice": tr["dice"],
            "train_iou": tr["iou"],
            "val_loss": va["loss"],
            "val_dice": va["mean_dice"],
            "val_iou": va["mean_iou"],
            "val_precision": va["precision"],
            "val_recall": va["recall"],
            "val_boundary_f1": va["boundary_f1"],
            **({"val_neg_flagged": fp["flagged"], "val_neg_marked": fp["marked"]} if fp else {}),
            "epoch_seconds": time.perf_counter() - t0,
            "train_images_per_s": tr["images_per_s"] * world_size(),  # all processes
            "data_wait": tr["data_wait"],
        }
        history.append(row)
        improved = row["val_dice"] > best_score
        if improved:
            best_score, best_epoch = row["val_dice"], epoch
        if main:
            metrics = {k: float(v) for k, v in row.items()}
            if improved:
                atomic_save(_checkpoint(model, cfg, epoch, metrics), run_dir / "best.pt")
            atomic_save(
                _checkpoint(
                    model,
                    cfg,
                    epoch,
                    metrics,
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict(),
                    scaler=scaler.state_dict(),
                    rng=rng_state(),
                    history=history,
                    best_score=best_score,
                    best_epoch=best_epoch,
                ),
                run_dir / "last.pt",
            )
            _write_csv(history, run_dir / "metrics.csv")
            plot_curves(history, run_dir / "curves.png")
            tqdm.write(
                f"epoch {epoch}/{cfg.epochs}  loss {tr['loss']:.4f}  val loss {va['loss']:.4f}  "
                f"val Dice {va['mean_dice']:.4f}  val IoU {va['mean_iou']:.4f}  "
                + (f"negatives flagged {fp['flagged']:.1%}  " if fp else "")
                + f"{row['train_images_per_s']:.1f} img/s  {row['epoch_seconds']:.0f}s"
                + ("  *best*" if improved else "")
            )
        if cfg.patience and epoch - best_epoch >= cfg.patience:
            stopped_early = True
            log.info("early stop: no better val Dice for %d epochs", cfg.patience)
            break
    if is_dist():
        check_same_weights(model)
    best = next(r for r in history if r["epoch"] == best_epoch)
    return {
        "run_dir": str(run_dir),
        "best_epoch": best_epoch,
        "best_metrics": best,
        "epochs_run": epoch - start_epoch + 1,
        "stopped_early": stopped_early,
    }
