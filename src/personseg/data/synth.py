"""Copy-paste augmentation and person-free scenes (Ghiasi et al., "Simple Copy-Paste is a Strong
Data Augmentation Method for Instance Segmentation", CVPR 2021).

People cut out with their alpha (RGBA PNGs) are pasted, at random sizes and places, into training
photos (crowds, small people, people at the border) and into photos that hold nobody; those
photos are also used alone, with an empty mask, so that the model learns to mark nothing there.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from personseg.data.dataset import IMAGE_EXTENSIONS, load_image, shrink

CUTOUT_EXTS = (".png", ".webp")


def _listed(folder: str | Path, exts: Sequence[str]) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise ValueError(f"no {'/'.join(exts)} files in {folder}")
    return files


def background_files(folder: str | Path, holdout: int = 0) -> tuple[list[Path], list[Path]]:
    """Person-free photos of ``folder``, sorted by name: (for training, the last ``holdout``
    kept out to measure false positives)."""
    files = _listed(folder, IMAGE_EXTENSIONS)
    if holdout >= len(files):
        raise ValueError(f"holdout {holdout} leaves no background of {len(files)} for training")
    return (files[:-holdout], files[-holdout:]) if holdout else (files, [])


def load_cutouts(folder: str | Path) -> list[np.ndarray]:
    """RGBA uint8 ``(h, w, 4)`` people from ``folder``; files without alpha are an error."""
    cutouts = []
    for path in _listed(folder, CUTOUT_EXTS):
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None or arr.ndim != 3 or arr.shape[2] != 4:
            raise ValueError(f"{path} is not an RGBA image; cut-outs need an alpha channel")
        cutouts.append(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA))
    return cutouts


def paste_people(
    image: np.ndarray,
    mask: np.ndarray,
    cutouts: Sequence[np.ndarray],
    count: int,
    height: tuple[float, float] = (0.2, 0.8),
    rng: random.Random | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste ``count`` random cut-outs into a copy of ``image`` (H, W, 3) and ``mask`` (H, W) {0,1}.

    Each person gets a height of ``height`` × the image height, a random flip, and a place that
    may cut it at the left, right or bottom border; the pasted alpha > 0.5 becomes mask 1.
    """
    rng = rng or random
    image, mask = image.copy(), mask.copy()
    H, W = mask.shape
    for _ in range(count):
        person = cutouts[rng.randrange(len(cutouts))]
        if rng.random() < 0.5:
            person = person[:, ::-1]
        h = max(8, round(H * rng.uniform(*height)))
        w = max(2, min(W, round(person.shape[1] * h / person.shape[0])))
        person = cv2.resize(np.ascontiguousarray(person), (w, h), interpolation=cv2.INTER_AREA)
        x = rng.randint(-w // 3, W - 2 * w // 3)
        y = rng.randint(min(0, H - h), max(0, H - h) + h // 4)
        # Clip the person's box to the image.
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
        if x1 <= x0 or y1 <= y0:
            continue
        part = person[y0 - y : y1 - y, x0 - x : x1 - x]
        alpha = part[..., 3:4].astype(np.float32) / 255.0
        region = image[y0:y1, x0:x1].astype(np.float32)
        image[y0:y1, x0:x1] = (alpha * part[..., :3] + (1 - alpha) * region).astype(np.uint8)
        mask[y0:y1, x0:x1] |= (alpha[..., 0] > 0.5).astype(mask.dtype)
    return image, mask


class PastePeople:
    """Callable ``(image, mask) → (image, mask)`` that pastes 1–``max_count`` people with
    probability ``p`` (uses the ``random`` module, which loader processes seed)."""

    def __init__(self, cutouts: Sequence[np.ndarray], p: float = 0.3, max_count: int = 3):
        self.cutouts, self.p, self.max_count = list(cutouts), p, max_count

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.cutouts or random.random() >= self.p:
            return image, mask
        return paste_people(image, mask, self.cutouts, random.randint(1, self.max_count))


class SceneDataset(Dataset):
    """``length`` samples per epoch from person-free photos: half left empty (all-zero mask),
    half with 1–6 pasted people of any size, through the training transform.

    Items are ``(image, mask, index)`` like :class:`SegmentationDataset`'s.
    """

    def __init__(
        self,
        backgrounds: Sequence[Path],
        cutouts: Sequence[np.ndarray],
        transform: Callable[..., dict],
        length: int,
        cache_size: int | None = None,
        empty_fraction: float = 0.5,
    ):
        self.transform, self.length = transform, length
        self.cutouts, self.empty_fraction = list(cutouts), empty_fraction
        self.images = [shrink(load_image(p), cache_size) for p in backgrounds]

    def __len__(self) -> int:
        return self.length

    def reseed(self, seed: int) -> None:
        if hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image = self.images[random.randrange(len(self.images))]
        mask = np.zeros(image.shape[:2], np.uint8)
        if self.cutouts and random.random() >= self.empty_fraction:
            image, mask = paste_people(
                image, mask, self.cutouts, random.randint(1, 6), height=(0.15, 0.95)
            )
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"].unsqueeze(0).float(), index


class Concat(ConcatDataset):
    """ConcatDataset that passes ``reseed`` on to its parts (loader processes call it)."""

    def reseed(self, seed: int) -> None:
        for ds in self.datasets:
            if hasattr(ds, "reseed"):
                ds.reseed(seed)
