"""What one training run reads: the training set (photos, scenes, composites, negatives), the
validation photos and the negatives' validation photos, as loaders sharded over processes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch.utils.data import DataLoader, Dataset

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
from personseg.engine.distributed import rank, world_size

log = logging.getLogger("personseg")


def held_size(d: DataConfig) -> int:
    """The longest side, in pixels, of photos kept in memory (the decode cache, negatives):
    a quarter more than the training input, room for augmentation's zoom."""
    return round(d.input_size * 1.25)


def training_set(
    d: DataConfig, samples: list[Sample], transform: Callable[..., dict], cache: int | None
) -> tuple[Dataset, int]:
    """The training photos (portrait crops with ``d.portrait_prob``, else copy-paste with
    ``d.paste_prob``), plus per epoch: ``d.scenes`` samples from person-free backgrounds,
    ``d.composites`` negatives or backgrounds with people pasted beside their subject (or,
    ``d.composite_portraits`` of them, one person framed as a portrait in front), and the
    negatives' train photos with empty masks as ``d.negatives_share`` of the epoch.

    Returns:
        The dataset, and how many of its first samples are the photos (the rest are
        synthetic or negatives).
    """
    cutouts = load_cutouts(d.cutouts) if d.cutouts else []
    paste = PastePeople(cutouts, d.paste_prob) if d.paste_prob > 0 else None
    augment = PortraitCrop(d.portrait_prob, then=paste) if d.portrait_prob > 0 else paste
    photos = SegmentationDataset(samples, transform, cache, pair_augment=augment)
    # photos with nobody in them live in memory either way: at the cache's size, never whole
    # (a 12 MP negative is 36 MB)
    keep = cache or held_size(d)
    parts: list[Dataset] = [photos]
    backgrounds: list[np.ndarray] = []
    if d.backgrounds:
        paths, held = background_files(d.backgrounds, d.backgrounds_holdout)
        backgrounds = load_photos(paths, keep)
        log.info("%d backgrounds for training (%d held out)", len(backgrounds), len(held))
    if d.scenes:
        parts.append(SceneDataset(backgrounds, cutouts, transform, d.scenes))
    negatives = [p for root in d.negatives for p in negative_split(root, "train")]
    neg_images = load_photos(negatives, keep) if negatives else []
    if d.composites:
        scenes = neg_images + backgrounds
        if not scenes:
            raise ValueError(
                "composites need photos to paste people into: the negatives' train split "
                "and the backgrounds are empty"
            )
        people = PeopleSource(photos, cutouts)
        parts.append(
            PersonFreeDataset(scenes, transform, d.composites, people, d.composite_portraits)
        )
    if neg_images and d.negatives_share > 0:
        others = sum(len(p) for p in parts)
        length = round(d.negatives_share / (1 - d.negatives_share) * others)
        parts.append(PersonFreeDataset(neg_images, transform, length))
    log.info(
        "per epoch: %d photos (portrait crops %.0f %%), %d background scenes, %d composites "
        "(portraits %.0f %%), %d negatives (from %d photos)",
        len(photos),
        100 * d.portrait_prob,
        d.scenes,
        d.composites,
        100 * d.composite_portraits,
        len(parts[-1]) if neg_images and d.negatives_share > 0 else 0,
        len(neg_images),
    )
    return (Concat(parts) if len(parts) > 1 else photos), len(photos)


def negative_val_set(d: DataConfig, transform: Callable[..., dict]) -> Dataset | None:
    """The negatives' ``val.txt`` photos with empty masks (``None`` without any)."""
    paths = [p for root in d.negatives for p in negative_split(root, "val")]
    if not paths:
        return None
    return NegativeDataset(paths, transform)


@dataclass
class Loaders:
    """The run's loaders; ``negatives`` is ``None`` without negatives' val photos. The first
    ``photos`` samples of ``train_set`` are the data roots' photos (the rest: scenes,
    composites, negatives)."""

    train: DataLoader
    val: DataLoader
    negatives: DataLoader | None
    train_set: Dataset
    photos: int


def build_loaders(cfg: TrainConfig) -> Loaders:
    """Split the roots, build the datasets as ``cfg.data`` says and shard them over the
    processes (every rank scores its share of the validation sets, an empty one included)."""
    d = cfg.data
    train_samples, val_samples = split_roots(d.roots, d.val_fraction, cfg.seed)
    log.info(
        "data: %d training and %d validation images from %s",
        len(train_samples),
        len(val_samples),
        ", ".join(d.roots),
    )
    cache = held_size(d) if d.cache else None
    train_tf = train_preset(d.input_size, d.resize, d.mean, d.std, d.augment)
    eval_tf = eval_transform(d.input_size, d.resize, d.mean, d.std)
    train_ds, photos = training_set(d, train_samples, train_tf, cache)
    val_ds = SegmentationDataset(val_samples, eval_tf, cache)
    neg_ds = negative_val_set(d, eval_tf)
    shard = {"rank": rank(), "world": world_size()}
    return Loaders(
        train=make_loader(train_ds, cfg.batch_size, True, d.num_workers, cfg.seed, **shard),
        val=make_loader(val_ds, cfg.batch_size, False, d.num_workers, **shard),
        negatives=None
        if neg_ds is None
        else make_loader(neg_ds, cfg.batch_size, False, d.num_workers, **shard),
        train_set=train_ds,
        photos=photos,
    )
