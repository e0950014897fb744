"""Photo effects from an image and its person probability map: mask, overlay, transparent cut-out,
background blur, background replacement. Everything works at the image's own resolution.

The edge of the alpha matte can be refined with a guided filter driven by the image (He, Sun,
Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013), which lets the matte follow the
image's edges inside the soft band the model leaves at person boundaries. Cut-outs and new
backgrounds take the person's own colour in that band, not the old background's
(:func:`~personseg.inference.foreground.estimate_foreground`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from personseg.data.geometry import area_resize, scale_to
from personseg.inference.foreground import estimate_foreground

EFFECTS = ("mask", "overlay", "cutout", "blur", "replace")
REFINES = ("guided", "none")
BLUR_SIGMA_SMALL = 4.0  # background blur: sigma (pixels) of the smaller copy it is computed on
GUIDE_SIZE = 384  # long side at which refine_edge fits the guided filter's coefficients


def check_refine(refine: str) -> str:
    """``refine`` if it names an edge (``REFINES``), else a ValueError saying which do."""
    if refine not in REFINES:
        raise ValueError(f"refine must be one of {REFINES}, got {refine!r}")
    return refine


def _check_map(prob: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise unless the probability map has the image's (H, W)."""
    if prob.shape != tuple(shape[:2]):
        raise ValueError(f"probability map {prob.shape} does not match image {tuple(shape[:2])}")


def guide_shape(shape: tuple[int, int], size: int | None = GUIDE_SIZE) -> tuple[int, int]:
    """(H, W) at which :func:`guided_filter` with ``size`` fits its coefficients for an
    image of ``shape``: at most ``size`` pixels on the long side."""
    h, w = shape
    scale = max(h, w) / size if size else 1.0
    if scale <= 1:
        return h, w
    return max(1, round(h / scale)), max(1, round(w / scale))


def guided_filter(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float, size: int | None = None
) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` (H, W) float32 guided by a grey ``guide`` (H, W),
    float32 in [0, 1] or uint8 (read as /255): a local linear model ``src ≈ a * guide + b`` in
    each window.

    With ``size``, ``a`` and ``b`` are fitted on copies at most ``size`` pixels on the long side
    (``radius`` counts their pixels) and scaled back up, the fast guided filter of He and Sun
    (arXiv:1505.00996): the coefficients are smooth, so little is lost for a fraction of the cost.
    ``src`` may then be given at that smaller size already (:func:`guide_shape`).
    """
    h, w = guide.shape
    small = guide_shape((h, w), size)
    src = np.asarray(src, np.float32)
    unit = 1 / 255 if guide.dtype == np.uint8 else 1.0
    g = guide if small == (h, w) else area_resize(guide, small[::-1])
    g = g.astype(np.float32) * unit
    p = src if src.shape == small else area_resize(src, small[::-1])
    window = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, window, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(g), box(p)
    a = (box(g * p) - mean_i * mean_p) / (box(g * g) - mean_i * mean_i + eps)
    a, b = box(a), box(mean_p - a * mean_i)
    if small != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    # a * guide + b at full size in two passes, in a's buffer: the full-size arrays are the
    # cost here, a fresh one most of all (its pages are mapped on first touch)
    out = cv2.multiply(a, guide, dst=a, scale=unit, dtype=cv2.CV_32F)
    return cv2.add(out, b, dst=out)


def refine_edge(image: np.ndarray, prob: np.ndarray, refine: str = "guided") -> np.ndarray:
    """The probability map (H, W) with its edge moved onto the image's edges.

    ``guided`` filters the map with the image as guide (5×5 windows at ``GUIDE_SIZE`` pixels on
    the long side, about the model's own resolution) and clips it to [0, 1]; ``none`` returns
    it unchanged (as float32). For ``guided`` the map may also come at :func:`guide_shape`
    of the image (where it is filtered; no need to enlarge it first).
    """
    check_refine(refine)
    shape = image.shape[:2]
    if refine == "none" or prob.shape != guide_shape(shape):
        _check_map(prob, shape)
    prob = prob.astype(np.float32, copy=False)
    if refine == "none":
        return prob
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # uint8: the filter reads it as /255
    out = guided_filter(grey, prob, 2, 1e-3, GUIDE_SIZE)
    return np.clip(out, 0.0, 1.0, out=out)


def scalar(value: float, dtype: np.dtype) -> np.ndarray:
    """``value`` as the 1×1 array OpenCV's per-element functions take as a scalar for an array
    of any size (a Python number is read as a 4-vector, which fails against a 1×1 image)."""
    return np.full((1, 1), value, dtype)


def binary_mask(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Mask (H, W) uint8: 255 where the probability is above ``threshold``, else 0 (one
    OpenCV pass; NumPy's compare, multiply and cast took 8 times as long on a 12 MP map)."""
    prob = np.ascontiguousarray(prob)
    if prob.dtype not in (np.float32, np.float64):
        prob = prob.astype(np.float32)
    return cv2.compare(prob, scalar(threshold, prob.dtype), cv2.CMP_GT)


def alpha_matte(
    image: np.ndarray,
    prob: np.ndarray,
    feather: float = 0.2,
    threshold: float = 0.5,
) -> np.ndarray:
    """Alpha (H, W) float32 in [0, 1] for an RGB uint8 image and its probability map (the
    edge as it is: a :class:`~personseg.inference.Segmenter` refines its maps; a map from
    elsewhere goes through :func:`refine_edge` first).

    Args:
        feather: half-width of the probability band turned into a soft edge: probabilities
            below ``threshold - feather`` become 0, above ``threshold + feather`` become 1.
        threshold: the probability that becomes alpha 0.5, the mask's threshold.
    """
    _check_map(prob, image.shape)
    if feather <= 0:
        return (prob > threshold).astype(np.float32)
    alpha = np.multiply(prob, 1 / (2 * feather), dtype=np.float32)  # three full-size passes
    alpha += 0.5 - threshold / (2 * feather)
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def cutout(image: np.ndarray, alpha: np.ndarray, decontaminate: bool = True) -> np.ndarray:
    """RGBA uint8 (H, W, 4): the image with ``alpha`` as its transparency; with
    ``decontaminate``, the soft edge's colours are the person's estimated own
    (:func:`~personseg.inference.foreground.estimate_foreground`), not the old background's."""
    a = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.dstack([estimate_foreground(image, alpha) if decontaminate else image, a])


def composite(image: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * image + (1 - alpha) * background``, RGB uint8 (one OpenCV pass; a float
    background is rounded to uint8 first)."""
    if background.dtype != np.uint8:
        background = np.clip(background + 0.5, 0, 255).astype(np.uint8)
    a = np.ascontiguousarray(alpha, np.float32)
    image, background = np.ascontiguousarray(image), np.ascontiguousarray(background)
    return cv2.blendLinear(image, background, a, 1.0 - a)


def blur_background(image: np.ndarray, alpha: np.ndarray, strength: float = 15.0) -> np.ndarray:
    """Blur the background of an RGB uint8 image (H, W, 3) (Gaussian, sigma ``strength``
    pixels at 1000 px image height, at most the image's size) and keep the person sharp.

    The blur is normalised by the background weight, so the person's colours do not bleed into
    the blurred background around them (no halo at the seam).
    """
    if strength <= 0:
        return image.copy()
    h, w = image.shape[:2]
    sigma = min(strength / 1000, 1.0) * max(h, w)  # a blur wider than the frame is its mean
    # A wide blur keeps no detail finer than sigma: compute it on a copy shrunk by a whole
    # factor k, where sigma is still BLUR_SIGMA_SMALL pixels or more, and scale the result
    # back up (the same picture, a fraction of the work: OpenCV shrinks by a whole factor
    # fast; 1280x720 at the default strength is blurred at a quarter of its size).
    k = max(1, min(int(sigma / BLUR_SIGMA_SMALL), h, w))
    weight = cv2.convertScaleAbs(np.subtract(1.0, alpha, dtype=np.float32), alpha=255.0)
    # the image weighted by the background before shrinking (no halo), in uint8: one pass
    weighted = cv2.multiply(image, cv2.cvtColor(weight, cv2.COLOR_GRAY2RGB), scale=1 / 255)
    parts = (weighted, weight, image)
    pad_h, pad_w = -h % k, -w % k  # up to a whole multiple of k, mirrored as the blur does
    if pad_h or pad_w:
        pads = (0, pad_h, 0, pad_w, cv2.BORDER_REFLECT_101)
        parts = (cv2.copyMakeBorder(x, *pads) for x in parts)
    if k > 1:
        size = ((w + pad_w) // k, (h + pad_h) // k)
        parts = (cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in parts)
    weighted, weight, img = parts
    s = sigma / k
    num = cv2.GaussianBlur(weighted.astype(np.float32), (0, 0), s)
    den = cv2.GaussianBlur(weight.astype(np.float32), (0, 0), s)[..., None] * (1 / 255)
    plain = cv2.GaussianBlur(img, (0, 0), s).astype(np.float32)
    # Where nothing but person is near, fall back to the plain blur (it is covered anyway).
    blurred = np.where(den > 1e-3, num / np.maximum(den, 1e-3), plain)
    blurred = np.clip(blurred + 0.5, 0, 255).astype(np.uint8)  # at the small size: cheap
    if k > 1:
        blurred = cv2.resize(blurred, (w + pad_w, h + pad_h), interpolation=cv2.INTER_LINEAR)
        blurred = blurred[:h, :w]
    return composite(image, blurred, alpha)


def parse_color(text: str) -> tuple[int, int, int]:
    """``#RRGGBB`` (or ``RRGGBB``) → (R, G, B)."""
    value = text.lstrip("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise ValueError(f"colour must look like #RRGGBB, got {text!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def cover(background: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Scale ``background`` to cover an (H, W) frame, keeping its aspect ratio, centre-cropped."""
    h, w = shape
    bh, bw = background.shape[:2]
    scale = max(h / bh, w / bw)
    # crop the part that shows, then scale only that: a thin strip of a background is never
    # blown up to its whole length first (1×40000 behind a 1000×750 frame: 67 GB)
    ch, cw = min(bh, max(1, round(h / scale))), min(bw, max(1, round(w / scale)))
    top, left = (bh - ch) // 2, (bw - cw) // 2
    return scale_to(background[top : top + ch, left : left + cw], (w, h))


def load_background(
    spec: str | Path | np.ndarray, max_pixels: int | None = None
) -> np.ndarray | tuple[int, int, int]:
    """A background image (path or RGB array) or a colour (``#RRGGBB``); an image file goes
    through the safe loader (``max_pixels``: its default when None)."""
    if isinstance(spec, np.ndarray):
        return spec
    if isinstance(spec, str) and spec.startswith("#"):
        return parse_color(spec)
    from personseg.data.images import DEFAULT_MAX_PIXELS, read_image

    return read_image(spec, max_pixels or DEFAULT_MAX_PIXELS)


def replace_background(
    image: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray | Sequence[int] | str | Path,
    decontaminate: bool = True,
) -> np.ndarray:
    """The person over a new background: an image (RGB, RGBA or grey array, or a file; scaled
    to cover), an (R, G, B) colour or ``#RRGGBB``; ``decontaminate`` as in :func:`cutout`."""
    if isinstance(background, (str, Path)):
        background = load_background(background)
    if isinstance(background, np.ndarray):
        if background.ndim == 2:
            background = cv2.cvtColor(background, cv2.COLOR_GRAY2RGB)
        bg = cover(np.ascontiguousarray(background[..., :3]), image.shape[:2])
    else:
        bg = np.empty_like(image)
        bg[:] = np.asarray(background, np.uint8)
    person = estimate_foreground(image, alpha) if decontaminate else image
    return composite(person, bg, alpha)


def apply_effect(
    image: np.ndarray,
    prob: np.ndarray,
    effect: str,
    threshold: float = 0.5,
    blur: float = 15.0,
    background: np.ndarray | Sequence[int] | str | Path | None = None,
    decontaminate: bool = True,
) -> np.ndarray:
    """One effect on an RGB uint8 image and its probability map (H, W); ``decontaminate``:
    ``cutout`` and ``replace`` take the person's own colour in the soft edge (:func:`cutout`).

    The map's edge is used as it is: a :class:`~personseg.inference.Segmenter`'s maps are
    refined already; give a map from elsewhere the same edge with :func:`refine_edge` first.

    Returns:
        ``mask``: (H, W) uint8 0/255; ``overlay``: RGB; ``cutout``: RGBA; ``blur`` and
        ``replace``: RGB.
    """
    if effect not in EFFECTS:
        raise ValueError(f"effect must be one of {EFFECTS}, got {effect!r}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"effects take an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}; "
            "convert it first (personseg.inference.segmenter.as_rgb)"
        )
    _check_map(prob, image.shape)
    if effect == "mask":
        return binary_mask(prob, threshold)
    if effect == "overlay":
        from personseg.viz import overlay

        return overlay(image, prob > threshold)
    alpha = alpha_matte(image, prob, threshold=threshold)
    if effect == "cutout":
        return cutout(image, alpha, decontaminate)
    if effect == "blur":
        return blur_background(image, alpha, blur)
    if background is None:
        raise ValueError("the replace effect needs a background: an image path or #RRGGBB")
    return replace_background(image, alpha, background, decontaminate)
