"""Albumentations presets: image and mask always go through one call; masks use nearest neighbour.

``letterbox`` keeps the aspect ratio (longest side to ``size``, zero padding, centred), which is
what prediction uses; ``stretch`` is the seed's plain square resize.
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

from personseg.config import AUGMENTS, IMAGENET_MEAN, IMAGENET_STD

Box = tuple[int, int, int, int]  # top, left, height, width of the image inside the padded square


def _resize(size: int, mode: str) -> list[A.BasicTransform]:
    if mode == "letterbox":
        return [
            A.LongestMaxSize(max_size=size, interpolation=cv2.INTER_AREA),
            A.PadIfNeeded(size, size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
        ]
    if mode == "stretch":
        return [A.Resize(size, size, interpolation=cv2.INTER_AREA)]
    raise ValueError(f"resize mode must be 'letterbox' or 'stretch', got {mode!r}")


def _augment(name: str) -> list[A.BasicTransform]:
    if name == "seed":
        return [
            A.HorizontalFlip(p=0.5),
            A.Rotate(limit=15, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.GaussianBlur(blur_limit=(3, 5), p=0.3),
        ]
    if name == "strong":
        return [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                scale=(0.5, 1.4),
                translate_percent=(-0.15, 0.15),
                rotate=(-15, 15),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=0.7,
            ),
            A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.25, p=0.5),
            A.HueSaturationValue(p=0.3),
            A.RandomGamma(p=0.2),
            A.ToGray(p=0.05),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.2),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.15),
            A.ImageCompression(quality_range=(40, 95), p=0.25),
        ]
    raise ValueError(f"augment must be one of {AUGMENTS}, got {name!r}")


def train_transform(
    size: int,
    resize: str = "letterbox",
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    augment: str = "seed",
) -> A.Compose:
    """Resize, then augment. ``seed``: the seed's flip, ±15° rotation, ±20 % brightness and
    contrast, Gaussian blur. ``strong``: flip; scale 0.5-1.4, shift ±15 %, ±15° rotation
    (people small, large, cut at the border); colour, gamma, grey; blur, noise and JPEG
    artefacts."""
    return A.Compose(
        [*_resize(size, resize), *_augment(augment), A.Normalize(mean=mean, std=std), ToTensorV2()]
    )


def eval_transform(
    size: int,
    resize: str = "letterbox",
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> A.Compose:
    """Resize and normalise only."""
    return A.Compose([*_resize(size, resize), A.Normalize(mean=mean, std=std), ToTensorV2()])


def fit_shape(h: int, w: int, size: int, divisor: int = 32) -> tuple[int, int]:
    """The input (H, W), multiples of ``divisor``, of about ``size``² pixels (at most 10 %
    more) that holds an ``h``×``w`` picture at the largest scale: a portrait photo gets a tall
    input (e.g. 320×224 for 3:2) instead of a square with wide padding."""
    budget = 1.1 * size * size
    best = (0.0, size, size)
    for rows in range(divisor, 4 * size + 1, divisor):
        cols = int(budget // rows) // divisor * divisor
        if cols < divisor:
            break
        scale = min(rows / h, cols / w)
        if scale * scale * h * w > best[0] + 1e-6:
            best = (scale * scale * h * w, rows, cols)
    return best[1], best[2]


def letterbox(image: np.ndarray, size: int | tuple[int, int]) -> tuple[np.ndarray, Box]:
    """Fit ``image`` (H, W[, C]) into a ``size``×``size`` square (or a (H, W) rectangle),
    centred, zero-padded.

    Returns:
        The padded image and the box (top, left, height, width) the picture occupies.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    h, w = image.shape[:2]
    scale = min(out_h / h, out_w / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    top, left = (out_h - nh) // 2, (out_w - nw) // 2
    padded = cv2.copyMakeBorder(
        resized, top, out_h - nh - top, left, out_w - nw - left, cv2.BORDER_CONSTANT, value=0
    )
    return padded, (top, left, nh, nw)


def unletterbox(prob: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Crop the box out of a square map and resize it (bilinear) to ``shape`` (H, W)."""
    top, left, nh, nw = box
    crop = np.ascontiguousarray(prob[top : top + nh, left : left + nw])
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
