"""Images in and out of a Segmenter: the safe decoder for untrusted uploads and frames
(:mod:`personseg.data.images`, re-exported here so that ``serve/`` needs ``inference/`` only),
the encoder of results to PNG, WebP or JPEG, and :func:`read_ahead`, which decodes the next
photos or frames beside the model."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2
import numpy as np

from personseg.data.images import (
    DEFAULT_MAX_PIXELS,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    decode_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "CorruptImageError",
    "ImageError",
    "ImageTooLargeError",
    "NotAnImageError",
    "decode_image",
    "encode_image",
    "read_ahead",
]
T = TypeVar("T")
_END = object()

FORMATS = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_PARAMS = {
    "png": [cv2.IMWRITE_PNG_COMPRESSION, 1],  # fast; the size is within 10 % of level 9
    "webp": [cv2.IMWRITE_WEBP_QUALITY, 90],
    "jpeg": [cv2.IMWRITE_JPEG_QUALITY, 90],
}


_MAX_SIDE = {"webp": 16383, "jpeg": 65500}  # what the formats can hold


def encode_image(image: np.ndarray, fmt: str = "png") -> bytes:
    """The bytes of a grey ``(H, W)``, RGB or RGBA uint8 image as ``png``, ``webp`` or ``jpeg``.

    JPEG has no transparency: an RGBA image is a ``ValueError`` (ask for PNG or WebP).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if image.ndim == 3 and image.shape[2] == 4:
        if fmt == "jpeg":
            raise ValueError("JPEG has no transparency: ask for the cut-out as png or webp")
        arr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3:
        arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    else:
        arr = image
    side = _MAX_SIDE.get(fmt)
    if side is not None and max(image.shape[:2]) > side:
        h, w = image.shape[:2]
        raise ImageTooLargeError(
            f"the result ({w}x{h}) is too large for {fmt} (at most {side} pixels a side): "
            "ask for png"
        )
    ok, buf = cv2.imencode(f".{fmt}", arr, _PARAMS[fmt])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {fmt}")
    return buf.tobytes()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each made on a worker thread while the caller works on the one before (OpenCV
    decodes without holding Python's lock): one item ahead, so memory holds two at most."""
    with ThreadPoolExecutor(1) as worker:
        future = worker.submit(next, items, _END)
        while (item := future.result()) is not _END:
            future = worker.submit(next, items, _END)
            yield item
