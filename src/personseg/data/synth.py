"""Copy-paste augmentation and person-free scenes (Ghiasi et al., "Simple Copy-Paste is a Strong
Data Augmentation Method for Instance Segmentation", CVPR 2021).

People cut out with their alpha (RGBA PNGs) are pasted, at random sizes and places, into training
photos (crowds, small people, people at the border) and into photos that hold nobody; those
photos are also used alone, with an empty mask, so that the model learns to mark nothing there.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from personseg.data.dataset import IMAGE_EXTENSIONS, load_image, shrink
from personseg.data.images import decode, open_image, to_array

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
    """RGBA uint8 ``(h, w, 4)`` people from ``folder``; files without transparency, truncated
    or corrupt are an error."""
    cutouts = []
    for path in _listed(folder, CUTOUT_EXTS):
        with open_image(path) as im:
            if im.mode not in ("RGBA", "LA", "PA") and "transparency" not in im.info:
                raise ValueError(f"{path} is not an RGBA image; cut-outs need an alpha channel")
            cutouts.append(to_array(decode(im, str(path)), alpha=True))
    return cutouts


def paste_person(
    image: np.ndarray, mask: np.ndarray, person: np.ndarray, x: int, y: int, h: int
) -> None:
    """Paste the RGBA ``person`` into ``image`` (H, W, 3) and ``mask`` (H, W) {0,1} in place,
    scaled to height ``h`` (the same scale both ways) with its top-left corner at (``x``,
    ``y``), clipped to the image; alpha > 0.5 becomes mask 1."""
    H, W = mask.shape
    scale = h / person.shape[0]
    w = pasted_width(person, h)
    left, right = max(0, -x), max(0, x + w - W)  # columns that fall outside the image
    if left or right:  # scale only the part that shows (a wide group, a thin strip)
        s0, s1 = int(left / scale), person.shape[1] - int(right / scale)
        if s1 <= s0:
            return
        person, x = person[:, s0:s1], x + round(s0 * scale)
        w = max(1, round(person.shape[1] * scale))
    person = cv2.resize(np.ascontiguousarray(person), (w, h), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    part = person[y0 - y : y1 - y, x0 - x : x1 - x]
    alpha = part[..., 3:4].astype(np.float32) / 255.0
    region = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (alpha * part[..., :3] + (1 - alpha) * region).astype(np.uint8)
    mask[y0:y1, x0:x1] |= (alpha[..., 0] > 0.5).astype(mask.dtype)


def pasted_width(person: np.ndarray, h: int) -> int:
    """The width of ``person`` pasted at height ``h``: the same scale both ways."""
    return max(2, round(person.shape[1] * h / person.shape[0]))


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
        w = pasted_width(person, h)
        x = rng.randint(-w // 3, W - 2 * w // 3) if w <= W else rng.randint(W - w, 0)
        y = rng.randint(min(0, H - h), max(0, H - h) + h // 4)
        paste_person(image, mask, person, x, y, h)
    return image, mask


def paste_beside_subject(
    image: np.ndarray,
    mask: np.ndarray,
    people: Sequence[np.ndarray],
    height: tuple[float, float] = (0.35, 1.0),
    rng: random.Random | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste ``people`` (RGBA) into a copy of a photo beside and partly in front of its centre,
    where a photo's main subject usually is (a person next to a dog), so that the subject
    stays background. Each person is ``height`` × the image height, standing on a line at
    75-115 % of the height, centred 12-38 % of the width left or right of the middle."""
    rng = rng or random
    image, mask = image.copy(), mask.copy()
    H, W = mask.shape
    for person in people:
        if rng.random() < 0.5:
            person = person[:, ::-1]
        h = max(8, round(H * rng.uniform(*height)))
        w = pasted_width(person, h)
        centre = W * (0.5 + rng.choice((-1, 1)) * rng.uniform(0.12, 0.38))
        bottom = H * rng.uniform(0.75, 1.15)
        paste_person(image, mask, person, round(centre - w / 2), round(bottom - h), h)
    return image, mask


STANDING = 1.6  # a person's box at least this many times as high as wide: standing, not framed


def _box(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)``: the box of the true (non-zero) pixels, ends exclusive; ``None``
    when there are none."""
    ys, xs = np.nonzero(pixels)
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def paste_portrait(
    image: np.ndarray,
    mask: np.ndarray,
    person: np.ndarray,
    top: tuple[float, float] = (0.2, 0.6),
    height: tuple[float, float] = (0.6, 1.0),
    rng: random.Random | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste the head-and-shoulders or half body of ``person`` (RGBA) into a copy of a photo
    as a portrait is framed: ``height`` × the image height, cut by the bottom edge, left,
    centre or right; the photo's own subject (a flag, a pet) stays around and behind it as
    background. Of a standing person (opaque box at least ``STANDING`` times as high as wide)
    the top ``top`` share is kept; a person already framed so is kept whole. A person wider
    than the photo loses its sides; the scale is the same both ways."""
    rng = rng or random
    image, mask = image.copy(), mask.copy()
    H, W = mask.shape
    box = _box(person[..., 3] > 127)
    if box is None:
        return image, mask
    y0, y1, x0, x1 = box
    person = person[y0:y1, x0:x1]  # the body, no margin
    if rng.random() < 0.5:
        person = person[:, ::-1]
    if person.shape[0] >= STANDING * person.shape[1]:
        person = person[: max(2, round(person.shape[0] * rng.uniform(*top)))]
        _, _, x0, x1 = _box(person[..., 3] > 127)  # its top row is opaque: never None
        person = person[:, x0:x1]  # the kept part's own width
    h = max(8, round(H * rng.uniform(*height)))
    scale = h / person.shape[0]
    if person.shape[1] * scale > W:
        keep = max(2, int(W / scale))
        left = (person.shape[1] - keep) // 2
        person = person[:, left : left + keep]
    w = pasted_width(person, h)
    centre = W * rng.uniform(0.2, 0.8)
    paste_person(image, mask, person, round(centre - w / 2), H - h, h)
    return image, mask


def person_cutout(image: np.ndarray, mask: np.ndarray, soft_edge: bool = True) -> np.ndarray | None:
    """The person of a pair as an RGBA cut-out (its box; alpha is the mask, with a 1-pixel
    soft edge when ``soft_edge``), or ``None`` when the mask is empty."""
    box = _box(mask)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    alpha = (mask[y0:y1, x0:x1] > 0).astype(np.float32) * 255
    if soft_edge:
        alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
    return np.dstack([image[y0:y1, x0:x1], alpha.astype(np.uint8)])


def portrait_crop(
    image: np.ndarray, mask: np.ndarray, rng: random.Random | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """A head-and-shoulders or half-body framing of a standing person: the top 25-50 % of the
    person's box with a little room above the head, 0.8-1.6 times as wide as high, centred
    on the person. ``None`` when the mask is empty or the person is not standing (box less
    than 1.6 times as high as wide: already a portrait)."""
    rng = rng or random
    box = _box(mask == 1)  # not ignore pixels (255)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    if (y1 - y0) < STANDING * (x1 - x0):
        return None
    H, W = mask.shape
    body = (y1 - y0) * rng.uniform(0.25, 0.5)
    top = max(0, round(y0 - body * rng.uniform(0.0, 0.2)))
    bottom = min(H, round(y0 + body))
    crop_h = bottom - top
    crop_w = min(W, round(crop_h * rng.uniform(0.8, 1.6)))
    rows = mask[top:bottom]
    cx = float(np.nonzero(rows)[1].mean()) if rows.any() else (x0 + x1) / 2
    cx += crop_w * rng.uniform(-0.15, 0.15)
    left = int(np.clip(round(cx - crop_w / 2), 0, W - crop_w))
    if crop_h < 16 or crop_w < 16:
        return None
    return image[top:bottom, left : left + crop_w], mask[top:bottom, left : left + crop_w]


class PastePeople:
    """Callable ``(image, mask) → (image, mask)`` that pastes 1–``max_count`` people with
    probability ``p`` (uses the ``random`` module, which loader processes seed)."""

    def __init__(self, cutouts: Sequence[np.ndarray], p: float = 0.3, max_count: int = 3):
        self.cutouts, self.p, self.max_count = list(cutouts), p, max_count

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.cutouts or random.random() >= self.p:
            return image, mask
        return paste_people(image, mask, self.cutouts, random.randint(1, self.max_count))


def load_photos(paths: Sequence[Path], longest: int | None = None) -> list[np.ndarray]:
    """Decode photos (in threads), each scaled down to ``longest`` pixels on its long side."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda p: shrink(load_image(p), longest), paths))


class PortraitCrop:
    """Callable ``(image, mask) → (image, mask)``: with probability ``p`` a portrait framing
    (:func:`portrait_crop`) of a standing person; otherwise ``then`` (e.g. :class:`PastePeople`)."""

    def __init__(self, p: float, then: Callable | None = None):
        self.p, self.then = p, then

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if random.random() < self.p:
            crop = portrait_crop(image, mask)
            if crop is not None:
                return crop
        return self.then(image, mask) if self.then is not None else (image, mask)


class DrawnPhotos(Dataset):
    """``length`` samples per epoch, each a random photo of ``images`` (RGB uint8) made into an
    ``(image, mask)`` pair by :meth:`compose`, then through ``transform``.

    Items are ``(image, mask, index)`` like :class:`SegmentationDataset`'s.
    """

    def __init__(self, images: Sequence[np.ndarray], transform: Callable[..., dict], length: int):
        self.images, self.transform, self.length = images, transform, length

    def __len__(self) -> int:
        return self.length

    def reseed(self, seed: int) -> None:
        if hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(seed)

    def compose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The photo as it is, with an empty mask."""
        return image, np.zeros(image.shape[:2], np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image, mask = self.compose(self.images[random.randrange(len(self.images))])
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"].unsqueeze(0).float(), index


class PersonFreeDataset(DrawnPhotos):
    """Samples from photos with nobody in them (e.g. from :func:`load_photos`). With
    ``people`` (a callable giving a random RGBA person), 1-3 people are pasted beside and
    partly in front of each photo's subject (:func:`paste_beside_subject`); without, every
    mask is empty (hard negatives). A ``portraits`` share of the samples with people hold one
    person framed as a portrait in front of the photo instead (:func:`paste_portrait`)."""

    def __init__(
        self,
        images: Sequence[np.ndarray],
        transform: Callable[..., dict],
        length: int,
        people: Callable[[], np.ndarray] | None = None,
        portraits: float = 0.0,
    ):
        super().__init__(images, transform, length)
        self.people, self.portraits = people, portraits

    def compose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = super().compose(image)
        if self.people is None:
            return image, mask
        # no draw at 0: a run without portraits gets the same samples from the same seed
        if self.portraits > 0 and random.random() < self.portraits:
            return paste_portrait(image, mask, self.people())
        return paste_beside_subject(
            image, mask, [self.people() for _ in range(random.randint(1, 3))]
        )


class NegativeDataset(Dataset):
    """Photos with nobody in them, each once with an empty mask, through ``transform``
    (validation of false positives). Items are ``(image, mask, index)``."""

    def __init__(self, paths: Sequence[Path], transform: Callable[..., dict]):
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image = load_image(self.paths[index])
        out = self.transform(image=image, mask=np.zeros(image.shape[:2], np.uint8))
        return out["image"], out["mask"].unsqueeze(0).float(), index


class PeopleSource:
    """Callable giving a random RGBA person: a cut-out of ``cutouts`` or the person of a
    training pair of ``photos`` (a :class:`SegmentationDataset`, cached or not)."""

    def __init__(self, photos: Dataset, cutouts: Sequence[np.ndarray] = ()):
        self.photos, self.cutouts = photos, list(cutouts)

    def __call__(self) -> np.ndarray:
        n_photos, n_cut = len(self.photos), len(self.cutouts)
        for _ in range(100):
            i = random.randrange(n_photos + n_cut)
            if i >= n_photos:
                return self.cutouts[i - n_photos]
            image, mask = self.photos.pair(i)
            person = person_cutout(image, (mask == 1).astype(np.uint8))  # not ignore pixels
            if person is not None:
                return person
        raise ValueError(
            "composites need people, but 100 training photos in a row had an empty mask; "
            "add photos with people or --cutouts"
        )


class SceneDataset(DrawnPhotos):
    """``length`` samples per epoch from person-free photos: half left empty (all-zero mask),
    half with 1–6 pasted people of any size, through the training transform."""

    def __init__(
        self,
        backgrounds: Sequence[np.ndarray],
        cutouts: Sequence[np.ndarray],
        transform: Callable[..., dict],
        length: int,
        empty_fraction: float = 0.5,
    ):
        """``backgrounds``: RGB uint8 photos, e.g. from :func:`load_photos`."""
        super().__init__(backgrounds, transform, length)
        self.cutouts, self.empty_fraction = list(cutouts), empty_fraction

    def compose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = super().compose(image)
        if self.cutouts and random.random() >= self.empty_fraction:
            count = random.randint(1, 6)
            image, mask = paste_people(image, mask, self.cutouts, count, height=(0.15, 0.95))
        return image, mask


class Concat(ConcatDataset):
    """ConcatDataset that passes ``reseed`` on to its parts (loader processes call it) and
    gives each sample its index in the whole, so a batch tells which part each came from."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image, mask, _ = super().__getitem__(index)
        return image, mask, index if index >= 0 else index + len(self)

    def reseed(self, seed: int) -> None:
        for ds in self.datasets:
            if hasattr(ds, "reseed"):
                ds.reseed(seed)
