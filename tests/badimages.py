"""Images that users and strangers send: truncated, bombs, odd PNGs, made in memory for the
loader and server tests."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import cv2
import numpy as np
from PIL import Image


def photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """RGB uint8 with smooth shapes and noise, so that its JPEG is tens of kB, like a photo."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), np.uint8), (w, h))
    return np.clip(image + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


def encode(image: np.ndarray, ext: str = ".png", params: tuple[int, ...] = ()) -> bytes:
    """File bytes of an RGB/RGBA/grey array (any depth OpenCV writes)."""
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def truncated_jpeg(keep: int = 3000) -> bytes:
    """A 400x300 photo-like JPEG cut after ``keep`` bytes, as a broken download leaves it."""
    data = encode(photo_like(400, 300), ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 95))
    assert len(data) > 4 * keep
    return data[:keep]


def bomb_png(w: int = 60000, h: int = 60000) -> bytes:
    """A PNG of about 1 kB whose header claims ``w`` x ``h`` grey pixels (a decompression bomb:
    its first rows are zeros that deflate 1000:1)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data))
        return struct.pack(">I", len(data)) + tag + data + crc

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (w + 1) * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def odd_pngs(h: int = 30, w: int = 40) -> dict[str, bytes]:
    """PNGs personseg must accept: 16-bit grey and RGB, RGBA, grey, and a palette image."""
    rgb = photo_like(h, w)
    rgba = np.dstack([rgb, np.linspace(0, 255, w, dtype=np.uint8)[None].repeat(h, 0)])
    palette = BytesIO()
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(palette, "PNG")
    return {
        "grey16": encode(rgb[..., 0].astype(np.uint16) * 257),
        "rgb16": encode(rgb.astype(np.uint16) * 256 + 3),  # high byte: rgb
        "rgba": encode(rgba),
        "grey": encode(rgb[..., 1]),
        "palette": palette.getvalue(),
    }
