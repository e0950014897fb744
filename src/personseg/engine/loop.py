"""One epoch of training, and scoring on a loader: plain functions taking explicit objects.

Validation scores during training are computed at the training input size (masks resized with
nearest neighbour); ``personseg evaluate`` scores at the ground truth's own resolution.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from personseg.device import Runtime
from personseg.engine.distributed import any_rank, gather_rows, is_main_process, sum_across
from personseg.losses import split_ignore
from personseg.metrics import MetricAccumulator, confusion_counts, scores_from_counts

log = logging.getLogger("personseg")


def _distilled(
    masks: torch.Tensor,
    images: torch.Tensor,
    teacher: Callable[[torch.Tensor], torch.Tensor],
    distill: float,
    index: torch.Tensor | None,
    below: int | None,
) -> torch.Tensor:
    """The masks blended with the teacher's probabilities: every sample, or (with ``below``)
    those whose index is below it; the teacher sees only those."""
    on = None if below is None else torch.as_tensor(index) < below  # on the CPU: no sync
    if on is None or bool(on.all()):
        return torch.lerp(masks, teacher(images), distill)
    if not on.any():
        return masks
    on = on.to(masks.device)
    target = masks.clone()
    target[on] = torch.lerp(masks[on], teacher(images[on]), distill)
    return target


def _group_size(i: int, accumulate: int, n_batches: int | None) -> int:
    """How many batches share batch ``i``'s optimizer step: ``accumulate``, or fewer in a last,
    shorter group (whose gradient is then its own mean)."""
    if n_batches is None:
        return accumulate
    return min(accumulate, n_batches - i // accumulate * accumulate)


def _ends_group(i: int, accumulate: int, n_batches: int | None) -> bool:
    """Whether the optimizer steps after batch ``i``: every ``accumulate`` batches, and after
    the last one."""
    return (i + 1) % accumulate == 0 or i + 1 == n_batches


def _forward_backward(
    model: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None,
    loss_fn: nn.Module,
    rt: Runtime,
    scaler: torch.amp.GradScaler,
    sync: bool,
    group: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (N, 1, S, S), fp32 loss) of one batch, its gradient (scaled by ``1 / group``)
    added to the parameters'; DDP all-reduces gradients only when ``sync``."""
    # DDP all-reduces gradients in backward; skip that on accumulation-only batches
    no_sync = not sync and hasattr(model, "no_sync")
    with model.no_sync() if no_sync else contextlib.nullcontext():
        with rt.autocast():
            logits = model(images)  # (N, 1, S, S)
        loss = _loss(loss_fn, logits, target, valid)  # fp32
        if any_rank(not torch.isfinite(loss).item()):  # every rank stops together
            raise FloatingPointError(
                f"the loss became {loss.item()} (on this or another process); lower --lr "
                f"or check the data with `personseg data check`"
            )
        scaler.scale(loss / group).backward()
    return logits, loss


def _optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """Step on the accumulated gradients, then clear them."""
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


@dataclass
class _EpochTally:
    """What a training epoch has seen so far: the loss sum, images, per-image confusion counts,
    and the seconds spent waiting for the loader since ``start``."""

    threshold: float
    loss_sum: float = 0.0
    n_images: int = 0
    counts: list[np.ndarray] = field(default_factory=list)
    waited: float = 0.0
    start: float = field(default_factory=time.perf_counter)

    def add(
        self,
        loss: torch.Tensor,
        logits: torch.Tensor,
        masks: torch.Tensor,
        valid: torch.Tensor | None,
    ) -> None:
        """One batch: ``logits`` (N, 1, S, S), ``masks`` (N, 1, S, S) {0, 1}, ``valid`` None or
        (N, 1, S, S), 0 on ignore pixels."""
        n = masks.shape[0]
        self.loss_sum += loss.item() * n
        self.n_images += n
        with torch.no_grad():
            cut = math.log(self.threshold / (1 - self.threshold))
            pred = (logits > cut).squeeze(1).cpu().numpy()
            keep = None if valid is None else valid.squeeze(1).cpu().numpy() > 0.5
            self.counts.append(confusion_counts(pred, masks.squeeze(1).cpu().numpy() > 0.5, keep))

    def postfix(self) -> dict[str, str]:
        """The progress bar's running loss and images per second."""
        elapsed = time.perf_counter() - self.start
        return {
            "loss": f"{self.loss_sum / self.n_images:.4f}",
            "img_s": f"{self.n_images / elapsed:.1f}",
        }

    def result(self) -> dict[str, float]:
        """The epoch's figures (see :func:`train_one_epoch`), over every process."""
        if self.n_images == 0:
            raise ValueError("the training split has no batch; add images or lower --batch-size")
        # under torchrun: every process's images, as validation counts them (not rank 0's share)
        loss_sum, n_images = sum_across([self.loss_sum, self.n_images])
        scores = scores_from_counts(gather_rows(np.concatenate(self.counts)))
        elapsed = time.perf_counter() - self.start
        return {
            "loss": loss_sum / n_images,
            "mean_dice": float(scores["dice"].mean()),
            "mean_iou": float(scores["iou"].mean()),
            "images_per_s": n_images / elapsed,
            "data_wait": self.waited / elapsed,
        }


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
    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
    distill: float = 0.5,
    distill_below: int | None = None,
) -> dict[str, float]:
    """One pass over ``loader``. With a ``teacher`` (batch → probabilities) each target is
    ``(1 - distill) · mask + distill · teacher's probability`` (ignore pixels stay ignored);
    with ``distill_below`` only for the samples whose index (the batch's third item) is below
    it, the others keep their masks.

    Returns:
        ``loss`` (mean), ``mean_dice`` and ``mean_iou`` (per image) on the augmented
        training batches, images per second (data loading included) and ``data_wait``,
        the share of the epoch spent waiting for the loader. With ``accumulate`` K the
        optimizer steps every K batches (and after the last one); under DDP gradients are
        synchronised only on those steps.
    """
    n_batches = len(loader) if hasattr(loader, "__len__") else None
    if accumulate > 1 and n_batches is None:
        raise ValueError("gradient accumulation needs a loader with a length")
    scaler = scaler or torch.amp.GradScaler(enabled=False)
    model.train()
    tally = _EpochTally(threshold)
    bar = tqdm(loader, desc=desc, leave=False, disable=not is_main_process(), dynamic_ncols=True)
    ready = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    for i, (images, masks, index) in enumerate(bar):
        tally.waited += time.perf_counter() - ready
        images, masks = rt.images(images), masks.to(rt.device)  # (N, 3, S, S), (N, 1, S, S)
        masks, valid = split_ignore(masks)  # valid: None, or 0 on ignore pixels
        target = masks
        if teacher is not None:
            target = _distilled(masks, images, teacher, distill, index, distill_below)
        step = _ends_group(i, accumulate, n_batches)
        group = _group_size(i, accumulate, n_batches)
        logits, loss = _forward_backward(
            model, images, target, valid, loss_fn, rt, scaler, step, group
        )
        if step:
            _optimizer_step(optimizer, scaler)
        tally.add(loss, logits, masks, valid)
        bar.set_postfix(**tally.postfix())
        ready = time.perf_counter()
    return tally.result()


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
        masks, valid = split_ignore(masks)
        with rt.autocast():
            logits = model(images)
        loss_sum += _loss(loss_fn, logits, masks, valid).item() * images.shape[0]
        n_images += images.shape[0]
        acc.update(torch.sigmoid(logits.float()), masks, valid)
    # under torchrun each process scored its share: merge the counts, then score once
    acc.rows = list(gather_rows(acc.counts))
    loss_sum, n_images = sum_across([loss_sum, n_images])
    return {"loss": loss_sum / max(n_images, 1), **acc.compute()}


def _loss(
    loss_fn: nn.Module, logits: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor | None
) -> torch.Tensor:
    """``loss_fn(logits, masks)``, with the ignore weight when the batch has ignore pixels."""
    return loss_fn(logits, masks) if valid is None else loss_fn(logits, masks, valid)


def check_same_weights(model: nn.Module) -> None:
    """Raise if the processes' weights have drifted apart (they must be equal under DDP)."""
    total = sum(p.detach().double().sum().item() for p in model.parameters())
    sums = gather_rows(np.array([[total]]))[:, 0]
    if not np.all(sums == sums[0]):
        raise RuntimeError(f"the processes' weights differ (parameter sums {sums.tolist()})")
    log.info("weights identical on all %d processes", len(sums))


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
