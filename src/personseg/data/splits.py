"""Train/validation splits per data root, and DataLoaders over several roots."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from personseg.data.dataset import IMAGE_EXTENSIONS, Sample, find_pairs, size_mismatches

T = TypeVar("T")

log = logging.getLogger("personseg")


def read_split(path: str | Path) -> list[str]:
    """Stems listed one per line (blank lines and ``#`` comments ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def select(
    items: Sequence[T], stems: Sequence[str], source: str, what: str = "image/mask pair"
) -> list[T]:
    """The items (pairs, or photo paths: anything with a ``stem``) named by ``stems``, in that
    order; unknown stems are an error."""
    by_stem = {s.stem: s for s in items}
    missing = [s for s in stems if s not in by_stem]
    if missing:
        raise ValueError(
            f"{source} names {len(missing)} {what}(s) that are not in the root, e.g. "
            f"{missing[:3]}; fix the split file or add the files"
        )
    return [by_stem[s] for s in stems]


def split_files(root: Path, items: Sequence[T], what: str) -> dict[str, list[T]]:
    """The items named in ``root``'s ``train.txt`` and ``val.txt`` (those that exist), checked:
    every stem is known and none is in both."""
    listed = {
        name: select(items, read_split(path), str(path), what)
        for name in ("train", "val")
        if (path := root / f"{name}.txt").is_file()
    }
    overlap = {s.stem for s in listed.get("train", [])} & {s.stem for s in listed.get("val", [])}
    if overlap:
        raise ValueError(
            f"{root}: {len(overlap)} {what}(s) are in both train.txt and val.txt, e.g. "
            f"{sorted(overlap)[:3]}"
        )
    return listed


def load_root(root: str | Path) -> list[Sample]:
    """All pairs of a data root, after checking that masks fit their images.

    Masks of another size but the same aspect ratio are reported once and resized when loaded;
    masks of another aspect ratio are an error.
    """
    pairs, _, _ = find_pairs(root)
    if not pairs:
        raise ValueError(
            f"no image/mask pairs in {root}: put <stem>.jpg in images/ and <stem>.png in masks/"
        )
    resizable, bad = size_mismatches(pairs)
    if bad:
        raise ValueError(
            f"{len(bad)} mask(s) in {root} have another aspect ratio than their image, e.g. "
            f"{bad[0].mask.name} vs {bad[0].image.name}; run `personseg data check {root}`"
        )
    if resizable:
        scales = [s for _, s in resizable]
        log.info(
            "%s: %d of %d masks differ in size from their image (scale %.2f-%.2f); they are "
            "resized to the image (nearest neighbour)",
            root,
            len(resizable),
            len(pairs),
            min(scales),
            max(scales),
        )
    return pairs


def split_samples(root: str | Path, name: str = "val") -> list[Sample]:
    """The pairs of ``root`` named in its ``<name>.txt`` (e.g. ``val``, ``train``), in order."""
    path = Path(root) / f"{name}.txt"
    return select(load_root(root), read_split(path), str(path))


def evaluation_samples(root: str | Path, split: str | None = None) -> tuple[list[Sample], str]:
    """The pairs to score and what they are: the stems of the file ``split``, every pair for
    ``"all"``, else ``root/val.txt`` when it exists, else those not in ``root/train.txt`` (as
    training validates on them), else every pair."""
    samples = load_root(root)
    if split == "all":
        return samples, "all pairs"
    split_file = Path(split) if split else Path(root) / "val.txt"
    if split is None and not split_file.is_file():
        if (Path(root) / "train.txt").is_file():
            return _listed_splits(Path(root), samples)[1], "the pairs not in train.txt (no val.txt)"
        return samples, "all pairs (no val.txt)"
    return select(samples, read_split(split_file), str(split_file)), str(split_file)


def _listed_splits(root: Path, pairs: list[Sample]) -> tuple[list[Sample], list[Sample]] | None:
    """(train, val) from ``root``'s ``train.txt``/``val.txt``, the missing one being every other
    pair; None when the root has neither."""
    listed = split_files(root, pairs, "image/mask pair")
    if not listed:
        return None
    for name, other in (("train", "val"), ("val", "train")):
        if name not in listed:
            named = {s.stem for s in listed[other]}
            listed[name] = [s for s in pairs if s.stem not in named]
    return listed["train"], listed["val"]


def split_root(
    root: str | Path, val_fraction: float = 0.2, seed: int = 42
) -> tuple[list[Sample], list[Sample]]:
    """(train, val) of one root: its ``train.txt``/``val.txt`` if present (with only one of
    them, the other split is every other pair), else a seeded split."""
    root = Path(root)
    pairs = load_root(root)
    if listed := _listed_splits(root, pairs):
        return listed
    order = list(pairs)
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * val_fraction)) if len(order) > 1 else 0
    return sorted(order[n_val:], key=lambda s: s.stem), sorted(order[:n_val], key=lambda s: s.stem)


def negative_images(root: str | Path) -> list[Path]:
    """Every photo of a negatives root (photos with nobody in them; every mask is empty):
    ``root/images/`` if it exists, else ``root`` itself, sorted by name."""
    root = Path(root)
    folder = root / "images" if (root / "images").is_dir() else root
    if not folder.is_dir():
        raise FileNotFoundError(
            f"negatives folder not found: {root} (a folder of photos with nobody in them, "
            "directly or in images/)"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no photos in {folder}: negatives need .jpg/.png/... files")
    return files


def negative_split(root: str | Path, name: str = "train") -> list[Path]:
    """The photos of a negatives root named in its ``<name>.txt``. Without split files every
    photo is for ``train`` and none for ``val``; with only ``val.txt``, ``train`` is the rest."""
    root = Path(root)
    files = negative_images(root)
    listed = split_files(root, files, "photo")
    if name in listed:
        return listed[name]
    if name == "train":
        held = {p.stem for p in listed.get("val", [])}
        return [p for p in files if p.stem not in held]
    return []


def split_roots(
    roots: Sequence[str | Path], val_fraction: float = 0.2, seed: int = 42
) -> tuple[list[Sample], list[Sample]]:
    """Concatenate the (train, val) splits of several roots, each split on its own."""
    train, val = [], []
    for root in roots:
        t, v = split_root(root, val_fraction, seed)
        train += t
        val += v
    if not val:
        raise ValueError("the validation split is empty: add images or a val.txt")
    return train, val


def default_workers() -> int:
    """Loader processes: one core stays with the model, at most 4."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _seed_worker(worker_id: int) -> None:
    """Give each loader process its own, reproducible augmentation stream."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    dataset = torch.utils.data.get_worker_info().dataset
    if hasattr(dataset, "reseed"):
        dataset.reseed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    workers: int = -1,
    seed: int = 42,
    rank: int = 0,
    world: int = 1,
) -> DataLoader:
    """Shuffled, last partial batch dropped only in training (never in validation).

    With ``world > 1`` (one loader per process): training uses a DistributedSampler (call
    ``loader.sampler.set_epoch`` each epoch); validation gives rank ``r`` the images
    ``r, r + world, …``, so every image is scored exactly once, with no padding.
    """
    workers = default_workers() if workers < 0 else workers
    sampler = None
    if world > 1 and train:
        sampler = DistributedSampler(dataset, world, rank, shuffle=True, seed=seed, drop_last=True)
    elif world > 1:
        dataset = Subset(dataset, range(rank, len(dataset), world))
    per_rank = len(dataset) // world if sampler is not None else len(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        drop_last=train and per_rank > batch_size,
        num_workers=workers,
        # new worker processes every epoch, seeded from that epoch's generator: a resumed run
        # gets the same samples as an uninterrupted one (persistent workers kept their streams
        # and drew their seed from the shuffling generator only once). Forked workers (Linux up
        # to Python 3.13) start at no cost; under spawn or forkserver each epoch sends them the
        # dataset, its decode cache included
        persistent_workers=False,
        worker_init_fn=_seed_worker if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed) if train and sampler is None else None,
    )
