"""The person's own colours in a cut-out's soft edge ("decontamination").

In the soft edge of a matte (hair, a shoulder against a bright wall) a photo's pixel is a mix
of the person and the old background, ``I = αF + (1 - α)B``; a cut-out that keeps ``I`` as
its colour carries the old background onto the new one (a halo). This estimates ``F`` by the
blur fusion of Forte and Pitié ("Approximate Fast Foreground Colour Estimation", ICIP 2021):
local means of the foreground and background colours around each pixel, weighted by ``α`` and
``1 - α``, from a wide window and then a narrow one, and the photo's own detail put back:

    F = F̄ + α (I - α F̄ - (1 - α) B̄)

The means are smooth, so they are computed on a copy of at most ``WORK_SIZE`` pixels on the
long side and scaled up; only the last formula runs at the photo's resolution, and only on the
soft edge (0 < α < 1): where α is 1 the colour is the photo's, where it is 0 it is unseen.
"""

from __future__ import annotations

import cv2
import numpy as np

from personseg.data.geometry import area_resize

WORK_SIZE = 320  # long side (pixels) of the copy the local means are computed on
RADII = (0.05, 0.004)  # window radii of the two passes, as shares of the long side
EPS = 1e-4


def _means(
    fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Local means (H, W, 3) of the foreground colours weighted by α and of the background
    colours weighted by 1 - α, in windows of ``2 * radius + 1`` pixels."""
    k = (2 * radius + 1, 2 * radius + 1)
    a = alpha[..., None]
    mean_a = cv2.blur(alpha, k)[..., None]
    fg_mean = cv2.blur(fg * a, k) / (mean_a + EPS)
    bg_mean = cv2.blur(bg * (1 - a), k) / (1 - mean_a + EPS)
    return fg_mean, bg_mean


def _fuse(image, fg_mean, bg_mean, alpha) -> np.ndarray:
    """``F̄ + α (I - α F̄ - (1 - α) B̄)``, clipped to [0, 255]; ``alpha`` (..., 1)."""
    out = image - alpha * fg_mean - (1 - alpha) * bg_mean
    out *= alpha
    out += fg_mean
    return np.clip(out, 0, 255, out=out)


def estimate_foreground(
    image: np.ndarray, alpha: np.ndarray, work_size: int = WORK_SIZE
) -> np.ndarray:
    """The person's colours (H, W, 3) uint8 for an RGB uint8 image and its alpha (H, W)
    float32 in [0, 1]: the photo's own where alpha is 0 or 1, the estimate between."""
    band = cv2.inRange(alpha, 1e-3, 1 - 1e-3)
    if not cv2.countNonZero(band):
        return image
    h, w = alpha.shape
    scale = min(1.0, work_size / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = area_resize(image, size).astype(np.float32)
    small_alpha = np.clip(area_resize(alpha, size), 0, 1)
    fg, bg = small, small
    for i, share in enumerate(RADII):
        radius = max(1, round(share * max(size)))
        fg_mean, bg_mean = _means(fg, bg, small_alpha, radius)
        if i < len(RADII) - 1:  # the last pass's means go to full size below
            fg, bg = _fuse(small, fg_mean, bg_mean, small_alpha[..., None]), bg_mean
    # the last pass's means at full size, then the formula on the soft edge's pixels only
    ys, xs = np.nonzero(band)
    box = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    fg_mean, bg_mean = (_window(m, (h, w), box) for m in (fg_mean, bg_mean))
    ys, xs = ys - box[0], xs - box[2]
    a = alpha[ys + box[0], xs + box[2]][:, None]
    colour = _fuse(image[ys + box[0], xs + box[2]].astype(np.float32), fg_mean[ys, xs],
                   bg_mean[ys, xs], a)  # fmt: skip
    out = image.copy()
    out[ys + box[0], xs + box[2]] = (colour + 0.5).astype(np.uint8)
    return out


def _window(small: np.ndarray, shape: tuple[int, int], box) -> np.ndarray:
    """The window ``box`` (top, bottom, left, right) of ``small`` (h, w, 3) scaled up to
    ``shape`` (H, W): bilinear, pixel centres aligned as cv2.resize aligns them, only the
    window computed."""
    top, bottom, left, right = box
    if small.shape[:2] == shape:
        return small[top:bottom, left:right]
    (h, w), (sh, sw) = shape, small.shape[:2]
    ys = (np.arange(top, bottom, dtype=np.float32) + 0.5) * (sh / h) - 0.5
    xs = (np.arange(left, right, dtype=np.float32) + 0.5) * (sw / w) - 0.5
    map_x, map_y = np.meshgrid(xs, ys)
    return cv2.remap(small, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
