"""Image/mask pairs on disk: finding, checking and loading them.

A data root holds ``images/`` and ``masks/``; an image ``images/<stem>.<ext>`` pairs with
``masks/<stem>.png``, else ``masks/<stem>_mask.png`` (any image extension). Masks may be 0/255,
0/1, label images (> 0 is person), palette PNGs, RGBA (alpha is the mask) or 16-bit. A mask of
another size than its image is resized to the image with nearest neighbour.

An optional ``ignore/<stem>.png`` (any value > 0, e.g. 255) marks pixels that count neither way:
crowd regions, void borders, ``__ignore__`` shapes. They are left out of the loss and of every
metric; :class:`SegmentationDataset` gives them the mask value :data:`IGNORE_VALUE`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from personseg.config import IGNORE_VALUE
from personseg.data.geometry import MASK_RESIZE, area_resize
from personseg.data.images import DEFAULT_MAX_PIXELS, decode, open_image, read_image

log = logging.getLogger("personseg")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
ASPECT_TOLERANCE = 0.02  # relative aspect-ratio difference accepted between image and mask
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Sample:
    """One image with its mask, and optionally its ignore map (pixels that do not count)."""

    stem: str
    image: Path
    mask: Path
    ignore: Path | None = None


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def find_pairs(root: str | Path) -> tuple[list[Sample], list[Path], list[Path]]:
    """Pair ``root/images`` with ``root/masks`` by stem (and ``root/ignore/<stem>.png`` where
    it exists): ``masks/<stem>.*``, else ``masks/<stem>_mask.*``. A mask named exactly after an
    image is that image's (``gas_mask.png`` is the mask of ``gas_mask.jpg``, not of ``gas.jpg``).

    Returns:
        (pairs sorted by stem, images without a mask, masks without an image).

    Raises:
        ValueError: an image has both masks, ``<stem>.*`` and ``<stem>_mask.*``.
    """
    root = Path(root)
    images_dir, masks_dir = root / "images", root / "masks"
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise FileNotFoundError(
                f"{d} not found: a data root needs images/ and masks/ folders "
                f"(masks named <stem>.png or <stem>_mask.png)"
            )
    masks: dict[str, Path] = {}
    for m in _files(masks_dir):
        masks.setdefault(m.stem, m)
    images = _files(images_dir)
    # a mask named exactly after an image is that image's, even if its name ends in _mask
    claimed = {img.stem for img in images} & masks.keys()
    ignore_dir = root / "ignore"
    ignores = {p.stem: p for p in _files(ignore_dir)} if ignore_dir.is_dir() else {}
    pairs, lonely_images = [], []
    for img in images:
        plain = masks.pop(img.stem, None)
        suffix = f"{img.stem}_mask"
        suffixed = None if suffix in claimed else masks.pop(suffix, None)
        if plain and suffixed:
            raise ValueError(
                f"{img} has two masks, {plain} and {suffixed}: keep one of them "
                f"(masks are named <stem>.png or <stem>_mask.png)"
            )
        if plain or suffixed:
            pairs.append(Sample(img.stem, img, plain or suffixed, ignores.get(img.stem)))
        else:
            lonely_images.append(img)
    return pairs, lonely_images, sorted(masks.values())


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``; EXIF orientation applied, grey, 16-bit and RGBA converted.

    Through the one safe loader (:mod:`personseg.data.images`): the format is read from the
    bytes, more than ``max_pixels`` pixels is refused before decoding, and a truncated or
    corrupt file is an :class:`~personseg.data.images.ImageError` (a ``ValueError``).
    """
    return read_image(path, max_pixels)


def load_mask(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Person mask as uint8 ``(H, W)`` in {0, 1}.

    Person is: alpha ≥ 128 for RGBA/LA; for 8-bit masks holding only 0 and one other value,
    or label images, any value > 0; for 8-bit masks with many grey levels up to 255 (soft or
    anti-aliased edges), value ≥ 128; any channel > 0 for colour label maps; > 0 for 16-bit.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"mask not found: {path}")
    with open_image(path, max_pixels, name=f"mask {path}") as im:
        decode(im, f"mask {path}")
        mode = im.mode
        if mode in ("RGBA", "LA", "PA"):
            return (np.asarray(im.convert("RGBA"))[..., 3] >= 128).astype(np.uint8)
        arr = np.asarray(im)  # 'P' gives palette indices: index > 0 is person
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if arr.dtype == np.uint8 and mode != "P" and arr.max() == 255 and _is_soft(arr):
        return (arr >= 128).astype(np.uint8)
    return (arr > 0).astype(np.uint8)


def _is_soft(arr: np.ndarray) -> bool:
    """True for a 0–255 matte with many grey levels rather than a label image."""
    return len(np.unique(arr[:: max(1, arr.shape[0] // 256), :: max(1, arr.shape[1] // 256)])) > 32


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation the file's header holds, without decoding pixels (Pillow decodes a
    whole PNG to look for EXIF after the pixels: a PNG's EXIF is read only when it comes
    first)."""
    if im.format != "PNG":
        return im.getexif().get(_EXIF_ORIENTATION, 1)
    exif = Image.Exif()
    if im.info.get("exif"):
        exif.load(im.info["exif"])
    return exif.get(_EXIF_ORIENTATION, 1)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) as loaded (after EXIF rotation), read from the header only."""
    with open_image(path, max_pixels=sys.maxsize) as im:
        w, h = im.size
        try:
            rotated = _orientation(im) in (5, 6, 7, 8)  # load_image rotates it
        except Exception as err:  # a malformed EXIF block: Pillow raises many types
            raise ValueError(f"cannot read {path}: its EXIF data is corrupt ({err})") from None
        if rotated:
            w, h = h, w
    return h, w


def size_mismatches(samples: Sequence[Sample]) -> tuple[list[tuple[Sample, float]], list[Sample]]:
    """Masks whose size differs from their image's.

    Returns:
        (resizable: same aspect ratio within 2 %, with the image/mask scale;
        bad: aspect ratios differ, which means a wrong pairing or a cropped mask).
    """
    resizable, bad = [], []
    for s in samples:
        (ih, iw), (mh, mw) = image_size(s.image), image_size(s.mask)
        if (ih, iw) == (mh, mw):
            continue
        if abs((iw / ih) / (mw / mh) - 1) > ASPECT_TOLERANCE:
            bad.append(s)
        else:
            resizable.append((s, iw / mw))
    return resizable, bad


def load_pair(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Image RGB uint8 ``(H, W, 3)`` and mask uint8 {0,1} ``(H, W)`` at the image's size."""
    image, mask = load_image(sample.image), load_mask(sample.mask)
    if mask.shape != image.shape[:2]:
        h, w = image.shape[:2]
        mask = cv2.resize(mask, (w, h), interpolation=MASK_RESIZE)
    return image, mask


def load_ignore(
    sample: Sample, shape: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray | None:
    """The sample's ignore map as bool ``(H, W)`` at ``shape`` (nearest neighbour), or None
    without one."""
    if sample.ignore is None:
        return None
    ignore = load_mask(sample.ignore, max_pixels)
    if ignore.shape != tuple(shape):
        ignore = cv2.resize(ignore, (shape[1], shape[0]), interpolation=MASK_RESIZE)
    return ignore.astype(bool)


def load_target(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`load_pair`, with ignore pixels set to :data:`IGNORE_VALUE` in the mask."""
    image, mask = load_pair(sample)
    ignore = load_ignore(sample, mask.shape)
    if ignore is not None:
        mask[ignore] = IGNORE_VALUE
    return image, mask


def shrink(
    image: np.ndarray, longest: int | None, interpolation: int = cv2.INTER_AREA
) -> np.ndarray:
    """Scale an image down (never up) so that its longest side is ``longest`` pixels."""
    h, w = image.shape[:2]
    if not longest or max(h, w) <= longest:
        return image
    scale = longest / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if interpolation == cv2.INTER_AREA:
        return area_resize(image, size)
    return cv2.resize(image, size, interpolation=interpolation)


def _shrink(image: np.ndarray, mask: np.ndarray, longest: int) -> tuple[np.ndarray, np.ndarray]:
    """A pair through :func:`shrink`; the mask by nearest neighbour."""
    return shrink(image, longest), shrink(mask, longest, MASK_RESIZE)


class SegmentationDataset(Dataset):
    """Samples through one Albumentations transform → ``(3, S, S)`` float image, ``(1, S, S)``
    float {0,1} mask, and the index.

    With ``cache_size``, every pair is decoded once (in threads) and kept in memory with its
    longest side at ``cache_size`` pixels, so epochs after the first decode no JPEG.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Callable[..., dict],
        cache_size: int | None = None,
        pair_augment: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
        | None = None,
    ):
        """``pair_augment`` (e.g. :class:`~personseg.data.synth.PastePeople`) changes the
        decoded image and mask before ``transform``."""
        self.samples, self.transform, self.pair_augment = list(samples), transform, pair_augment
        self.cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if cache_size:
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                self.cache = list(
                    pool.map(lambda s: _shrink(*load_target(s), cache_size), self.samples)
                )

    def __len__(self) -> int:
        return len(self.samples)

    def reseed(self, seed: int) -> None:
        """Seed the augmentation's random state (Albumentations keeps its own generators)."""
        if hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(seed)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoded (cached) image and mask of sample ``index``, before any augmentation;
        ignore pixels are :data:`IGNORE_VALUE` (use ``mask == 1`` for the person)."""
        return self.cache[index] if self.cache is not None else load_target(self.samples[index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image, mask = self.pair(index)
        if self.pair_augment is not None:
            image, mask = self.pair_augment(image, mask)
        out = self.transform(image=image, mask=mask)
        return out["image"], out["mask"].unsqueeze(0).float(), index
