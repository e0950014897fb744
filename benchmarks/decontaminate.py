"""Edge colours of cut-outs against known truth: the RGBA people of ``people_rgba/`` pasted on
``backgrounds/`` and ``objects/`` photos (``I = αF + (1 - α)B``), then cut out again.

The error is the mean absolute difference (grey levels, 0-255, over the three channels) between
the cut-out's colour and the true foreground ``F`` on the true soft edge (0.05 < α < 0.95),
without the estimate (the photo's own colour, as before) and with it, given the true alpha
(the colour estimate alone) and the model's alpha (as users run it). Also the estimate's cost
in ms at 640×480 and 12 MP.

    python benchmarks/decontaminate.py --json decontaminate.json --figure docs/images/halo.png
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import cv2
import numpy as np
from common import machine, save

from personseg.data import load_image
from personseg.inference import Segmenter
from personseg.inference.effects import alpha_matte
from personseg.inference.foreground import RADII, WORK_SIZE, estimate_foreground


def clean_colours(rgba: np.ndarray) -> np.ndarray:
    """The cut-out with the colours of its soft edge and outside filled in from its opaque
    inside (OpenCV's Telea inpainting): a foreground whose edge holds no trace of the photo
    it was cut from (``people_rgba``'s edges are a little lighter than the person: they
    carry their old background, which no estimate can know)."""
    inside = rgba[..., 3] >= 250
    rgb = cv2.inpaint(rgba[..., :3], (~inside).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return np.dstack([rgb, rgba[..., 3]])


def composites(data: Path, people: range, truth: str = "clean", seed: int = 0):
    """(image, true alpha, true foreground) triples: the ``people`` (indices of the sorted
    ``people_rgba`` files) each on a background photo (every other one an objects val
    photo), at a random place, seeded; ``truth``: ``clean`` (:func:`clean_colours`) or
    ``as-is``."""
    rng = random.Random(seed)
    files = sorted((data / "people_rgba").glob("*.png"))
    scenes = sorted((data / "backgrounds").glob("*.jpg"))
    objects = (data / "objects" / "val.txt").read_text().split()
    for i in people:
        rgba = cv2.cvtColor(cv2.imread(str(files[i % len(files)]), -1), cv2.COLOR_BGRA2RGBA)
        if truth == "clean":
            rgba = clean_colours(rgba)
        if i % 2:
            scene = load_image(data / "objects" / "images" / f"{objects[i % len(objects)]}.jpg")
        else:
            scene = load_image(scenes[i % len(scenes)])
        ph, pw = rgba.shape[:2]
        scale = min(1.0, 0.9 * scene.shape[0] / ph, 0.9 * scene.shape[1] / pw)
        if scale < 1:
            rgba = cv2.resize(rgba, (round(pw * scale), round(ph * scale)), cv2.INTER_AREA)
            ph, pw = rgba.shape[:2]
        top = rng.randint(0, scene.shape[0] - ph)
        left = rng.randint(0, scene.shape[1] - pw)
        alpha = np.zeros(scene.shape[:2], np.float32)
        fg = scene.astype(np.float32).copy()
        alpha[top : top + ph, left : left + pw] = rgba[..., 3] / 255
        fg[top : top + ph, left : left + pw] = rgba[..., :3]
        a = alpha[..., None]
        image = np.clip(a * fg + (1 - a) * scene + 0.5, 0, 255).astype(np.uint8)
        yield image, alpha, fg


def edge_error(colour: np.ndarray, fg: np.ndarray, alpha: np.ndarray) -> tuple[float, int]:
    """Sum of |colour - F| (mean over channels) on the true soft edge, and its pixel count."""
    band = (alpha > 0.05) & (alpha < 0.95)
    diff = np.abs(colour.astype(np.float32) - fg)[band].mean(axis=1)
    return float(diff.sum()), int(band.sum())


def median_ms(image: np.ndarray, alpha: np.ndarray, calls: int = 20) -> float:
    estimate_foreground(image, alpha)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        estimate_foreground(image, alpha)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument(
        "--people",
        default="100:200",
        help="which people_rgba cut-outs (sorted), START:STOP; the settings were chosen on "
        "0:100, so report 100:200 (default)",
    )
    ap.add_argument("--truth", choices=("clean", "as-is"), default="clean")
    ap.add_argument("--model", default="default")
    ap.add_argument("--json")
    ap.add_argument("--figure", help="PNG: a composite's edge before and after, on white")
    args = ap.parse_args()

    seg = Segmenter.load(args.model)
    sums = {k: [0.0, 0] for k in ("true alpha, none", "true alpha, estimate")}
    sums |= {k: [0.0, 0] for k in ("model alpha, none", "model alpha, estimate")}
    shown = None
    start, stop = map(int, args.people.split(":"))
    for image, alpha, fg in composites(Path(args.data), range(start, stop), args.truth):
        model_alpha = alpha_matte(image, seg.predict(image), threshold=seg.threshold)
        for name, a in (("true alpha", alpha), ("model alpha", model_alpha)):
            for way, colour in (("none", image), ("estimate", estimate_foreground(image, a))):
                s, c = edge_error(colour, fg, alpha)
                sums[f"{name}, {way}"][0] += s
                sums[f"{name}, {way}"][1] += c
        if shown is None:
            shown = (image, model_alpha)
    errors = {k: s / max(1, c) for k, (s, c) in sums.items()}
    for k, v in errors.items():
        print(f"{k}: {v:.2f} grey levels")
    rng = np.random.default_rng(0)
    ms = {}
    for label, (h, w) in (("640x480", (480, 640)), ("12MP", (3000, 4000))):
        image = cv2.resize(shown[0], (w, h))
        alpha = cv2.resize(shown[1], (w, h))
        ms[label] = median_ms(image, alpha, 20 if h < 1000 else 5)
        print(f"estimate at {label}: {ms[label]:.1f} ms")
    del rng
    result = {"machine": machine(), "people": args.people, "truth": args.truth}
    result |= {"work_size": WORK_SIZE, "radii": RADII, "edge_error": errors}
    result["ms"] = ms
    if args.figure and shown is not None:
        image, a = shown
        white = np.full_like(image, 255, np.float32)
        tiles = []
        for colour in (image, estimate_foreground(image, a)):
            tiles.append(np.clip(a[..., None] * colour + (1 - a[..., None]) * white, 0, 255))
        cv2.imwrite(args.figure, cv2.cvtColor(np.hstack(tiles).astype(np.uint8), cv2.COLOR_RGB2BGR))
    if args.json:
        save(result, args.json)


if __name__ == "__main__":
    main()
