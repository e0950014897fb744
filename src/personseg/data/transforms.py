"""Albumentations presets: image and mask always go through one call; masks use nearest neighbour.

``letterbox`` keeps the aspect ratio (longest side to ``size``, zero padding, centred) with the
same function prediction uses; ``stretch`` is the seed's plain square resize.
"""

from __future__ import annotations

import os
from functools import partial

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

from personseg.config import AUGMENTS, IMAGENET_MEAN, IMAGENET_STD
from personseg.data.geometry import MASK_RESIZE, letterbox


def _letterbox_image(image: np.ndarray, size: int, **_: object) -> np.ndarray:
    return letterbox(image, size)[0]


def _letterbox_mask(mask: np.ndarray, size: int, **_: object) -> np.ndarray:
    return letterbox(mask, size, MASK_RESIZE)[0]


def _letterbox(size: int) -> A.Lambda:
    """The letterbox prediction uses (:func:`~personseg.data.geometry.letterbox`), as an
    Albumentations step; the mask by nearest neighbour."""
    return A.Lambda(
        image=partial(_letterbox_image, size=size), mask=partial(_letterbox_mask, size=size)
    )


def _resize(size: int, mode: str) -> list[A.BasicTransform]:
    if mode == "letterbox":
        return [_letterbox(size)]
    if mode == "stretch":
        return [A.Resize(size, size, interpolation=cv2.INTER_AREA, mask_interpolation=MASK_RESIZE)]
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
