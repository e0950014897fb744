"""The before/after pictures of the README: each effect of the bundled model on the sample
portrait that matplotlib ships.

    python benchmarks/effect_figures.py --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from personseg.data import load_image
from personseg.inference import Segmenter
from personseg.inference.effects import apply_effect
from personseg.inference.run import sample_image


def checkerboard(shape: tuple[int, int], cell: int = 16) -> np.ndarray:
    """Grey/white squares, the usual picture of transparency."""
    yy, xx = np.indices(shape)
    board = np.where((yy // cell + xx // cell) % 2, 255, 204).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def sunset(shape: tuple[int, int]) -> np.ndarray:
    """A made-up background (orange to violet gradient), so no third-party photo is needed."""
    t = np.linspace(0, 1, shape[0], dtype=np.float32)[:, None, None]
    top, bottom = np.array([255, 170, 60], np.float32), np.array([90, 40, 140], np.float32)
    return np.broadcast_to((1 - t) * top + t * bottom, (*shape, 3)).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images")
    p.add_argument("--model", default="default")
    p.add_argument("--height", type=int, default=320, help="height of each picture")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    image = load_image(sample_image())
    seg = Segmenter.load(a.model)
    prob = seg.predict(image)
    shape = image.shape[:2]
    results = {
        "mask": apply_effect(image, prob, "mask"),
        "overlay": apply_effect(image, prob, "overlay"),
        "cutout": apply_effect(image, prob, "cutout"),
        "blur": apply_effect(image, prob, "blur", blur=25),
        "replace": apply_effect(image, prob, "replace", background=sunset(shape)),
    }
    for name, result in results.items():
        if result.ndim == 2:
            result = np.repeat(result[..., None], 3, axis=2)
        elif result.shape[2] == 4:  # show transparency on a checkerboard
            a_ = result[..., 3:4].astype(np.float32) / 255
            result = (result[..., :3] * a_ + checkerboard(shape) * (1 - a_)).astype(np.uint8)
        strip = np.hstack([image, np.full((shape[0], 8, 3), 255, np.uint8), result])
        scale = a.height / shape[0]
        strip = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        path = out / f"effect-{name}.jpg"
        cv2.imwrite(
            str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        print(path)


if __name__ == "__main__":
    main()
