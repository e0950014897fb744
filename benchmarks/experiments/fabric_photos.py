"""Procedural photos of fabric with nobody in them: flags, banners and striped, checked, dotted
or starred cloth, draped in folds, filling the photo or hanging on one side of a plain backdrop.

Such cloth stands behind people in official portraits, on stages and at ceremonies, and the
training photos hardly show it (``objects/train.txt`` has one flagpole). Tried as more hard
negatives and composite backgrounds in ``ablation_semantics.py`` (variants ``fabric`` and
``fabric-pc``; docs/benchmarks.md); not used by any shipped model.

    python benchmarks/experiments/fabric_photos.py runs/fabrics --count 300  # runs/fabrics/images/
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

# flag and uniform colours (RGB), drawn 70 % of the time; any colour otherwise
PALETTE = (
    (178, 34, 52),
    (255, 255, 255),
    (60, 59, 110),
    (0, 40, 104),
    (0, 122, 61),
    (255, 205, 0),
    (0, 0, 0),
    (255, 127, 0),
    (116, 172, 223),
    (206, 17, 38),
    (0, 56, 147),
    (240, 240, 230),
)
WHITE = np.array((255, 255, 255), np.float32)


def _colour(rng: random.Random) -> np.ndarray:
    c = rng.choice(PALETTE) if rng.random() < 0.7 else [rng.randrange(256) for _ in range(3)]
    return np.array(c, np.float32)


def _star(image: np.ndarray, cx: float, cy: float, r: float, colour: np.ndarray) -> None:
    """A filled five-pointed star of outer radius ``r`` centred at (cx, cy)."""
    points = [
        (cx + rr * math.cos(a), cy + rr * math.sin(a))
        for k in range(10)
        for a, rr in [(-math.pi / 2 + k * math.pi / 5, r if k % 2 == 0 else 0.38 * r)]
    ]
    cv2.fillPoly(image, [np.round(points).astype(np.int32)], colour.tolist(), cv2.LINE_AA)


def _stripes(image: np.ndarray, colours: list[np.ndarray], n: int, vertical: bool) -> None:
    length = image.shape[1] if vertical else image.shape[0]
    for i in range(n):
        a, b = round(i * length / n), round((i + 1) * length / n)
        if vertical:
            image[:, a:b] = colours[i % len(colours)]
        else:
            image[a:b] = colours[i % len(colours)]


def _canton(image: np.ndarray, rng: random.Random) -> None:
    """A flag's canton: a rectangle in a top corner with rows of stars."""
    h, w = image.shape[:2]
    ch, cw = round(h * rng.uniform(0.4, 0.6)), round(w * rng.uniform(0.3, 0.5))
    x0 = 0 if rng.random() < 0.7 else w - cw
    image[:ch, x0 : x0 + cw] = _colour(rng)
    colour = WHITE if rng.random() < 0.8 else _colour(rng)
    rows, per_row = rng.randint(3, 9), rng.randint(3, 8)
    r = 0.35 * min(ch / rows, cw / per_row)
    for j in range(rows):
        for i in range(per_row):
            x = x0 + (i + 0.5 + 0.25 * (j % 2)) * cw / per_row
            _star(image, x, (j + 0.5) * ch / rows, r, colour)


def _pattern(rng: random.Random, h: int, w: int) -> np.ndarray:
    """Flat cloth (H, W, 3) float32: stripes, a flag (stripes and a starred canton), checks,
    dots or scattered stars."""
    kind = rng.choice(("stripes", "stripes", "flag", "flag", "checks", "dots", "stars"))
    image = np.zeros((h, w, 3), np.float32)
    colours = [_colour(rng) for _ in range(rng.randint(2, 3))]
    if kind in ("stripes", "flag"):
        _stripes(image, colours, rng.randint(2, 15), rng.random() < 0.3)
        if kind == "flag":
            _canton(image, rng)
    elif kind == "checks":
        side = max(h, w) / rng.randint(4, 20)
        yy, xx = np.mgrid[0:h, 0:w]
        image[:] = colours[0]
        image[((yy // side + xx // side) % 2).astype(bool)] = colours[1]
    elif kind == "dots":
        image[:] = colours[0]
        step = rng.randint(20, 80)
        for y in range(0, h + step, step):
            for x in range(0, w + step, step):
                centre = (x + (step // 2) * ((y // step) % 2), y)
                radius = max(3, step // rng.randint(3, 6))
                cv2.circle(image, centre, radius, colours[1].tolist(), -1, cv2.LINE_AA)
    else:
        image[:] = colours[0]
        r = rng.randint(8, 30)
        for _ in range(rng.randint(10, 60)):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            _star(image, x, y, r * rng.uniform(0.7, 1.3), colours[1])
    return image


def _drape(rng: random.Random, image: np.ndarray) -> np.ndarray:
    """Folds: the cloth displaced and shaded along 1-4 slanted sine waves."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy, shade = np.zeros_like(xx), np.zeros_like(xx), np.ones_like(xx)
    for _ in range(rng.randint(1, 4)):
        freq = rng.uniform(1, 4.5) * 2 * math.pi / w
        phase, amp, tilt = rng.uniform(0, 6.3), rng.uniform(2, 14), rng.uniform(-0.6, 0.6)
        arg = freq * (xx + tilt * yy) + phase
        dy += amp * np.sin(arg)
        dx += 0.3 * amp * np.sin(arg + 1.0)
        shade *= 1 + rng.uniform(0.08, 0.3) * np.cos(arg)
    out = cv2.remap(image, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out * (shade[..., None] * rng.uniform(0.6, 1.1))


def _backdrop(rng: random.Random, cloth: np.ndarray) -> np.ndarray:
    """The cloth on one side of a plain backdrop (a vertical gradient: studio, wall, sky),
    parted by a slightly wavy vertical edge."""
    h, w = cloth.shape[:2]
    top, bottom = _colour(rng) * rng.uniform(0.5, 1.0), _colour(rng) * rng.uniform(0.5, 1.0)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    back = top * (1 - t) + bottom * t
    cut = round(w * rng.uniform(0.25, 0.7))
    edge = (cut + 6 * np.sin(np.arange(h) / rng.uniform(15, 60))).astype(int)[:, None]
    x = np.arange(w)[None, :]
    side = x < edge if rng.random() < 0.5 else x >= edge
    return np.where(side[..., None], cloth, back)


def fabric_photo(rng: random.Random, h: int, w: int) -> np.ndarray:
    """One fabric photo, RGB uint8 (H, W, 3), drawn from ``rng``."""
    scale = 2 if rng.random() < 0.5 else 1  # finer patterns, drawn large and shrunk
    cloth = _pattern(rng, h * scale, w * scale)
    if scale > 1:
        cloth = cv2.resize(cloth, (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:  # turned and zoomed
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-30, 30), rng.uniform(1, 1.8))
        cloth = cv2.warpAffine(cloth, turn, (w, h), borderMode=cv2.BORDER_REFLECT)
    cloth = cv2.GaussianBlur(_drape(rng, cloth), (0, 0), rng.uniform(0.3, 2.0))
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(1, 6), cloth.shape)
    cloth += noise.astype(np.float32)
    if rng.random() < 0.5:
        cloth = _backdrop(rng, cloth)
    return np.clip(cloth, 0, 255).astype(np.uint8)


def fabric_photos(
    count: int, seed: int = 0, size: tuple[int, int] = (360, 640)
) -> Iterator[np.ndarray]:
    """``count`` fabric photos, each side drawn in ``size`` pixels; the same ``seed`` gives
    the same photos."""
    rng = random.Random(seed)
    for _ in range(count):
        h, w = rng.randint(*size), rng.randint(*size)
        yield fabric_photo(rng, h, w)


def write_fabrics(out: str | Path, count: int, seed: int = 0) -> Path:
    """``count`` fabric photos as JPEG (quality 90) in ``out/images``; returns ``out``."""
    folder = Path(out) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for i, photo in enumerate(fabric_photos(count, seed)):
        path = str(folder / f"fabric_{i:04d}.jpg")
        cv2.imwrite(path, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return Path(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(write_fabrics(a.out, a.count, a.seed))


if __name__ == "__main__":
    main()
