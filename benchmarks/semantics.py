"""Does the model know what a person is? False positives on photos with nobody in them,
portrait framings, and the demo photo, scored as users run the model (``fit`` input, the
guided-filter edge).

- ``objects``: photos whose main subject is an animal or an object (``objects/<split>.txt``):
  the share of photos with more than 1 % of the pixels marked, and the mean marked share;
- ``backgrounds``: the last 20 ``backgrounds/`` photos (never trained on), the same figures;
- ``portraits``: head-and-shoulders and half-body crops (top 25-50 % of the person's box,
  ``personseg.data.synth.portrait_crop`` seeded per photo) of the standing people of ccp and
  humanseg290 ``<split>.txt``, with the same crop of their masks: mean IoU next to the full
  photos' mean IoU;
- ``demo``: IoU with the hand-drawn person polygon of matplotlib's ``grace_hopper.jpg``
  (``benchmarks/data/grace_hopper_person.json``) and the share of the flag and of the sky
  marked as person (non-person pixels left and right of x = 240).

    python benchmarks/semantics.py --models default --json semantics.json
    python benchmarks/semantics.py --models runs/x/last.pt --root runs/ablation/data  # ablation

A run's checkpoint is scored at the bundled model's prediction setting (``fit``,
``--input-size 448``); ``--gallery DIR`` writes the worst objects and portrait crops as PNGs.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np
from common import load_segmenter, marked_shares, save

from personseg.checkpoint import BUNDLED
from personseg.data import load_image, load_pair
from personseg.data.splits import negative_split, split_samples
from personseg.data.synth import background_files, portrait_crop
from personseg.inference import Segmenter
from personseg.inference.run import sample_image
from personseg.metrics import iou_score
from personseg.viz import overlay

HERE = Path(__file__).resolve().parent
DEMO_POLYGON = HERE / "data" / "grace_hopper_person.json"
FLAG_RIGHT_EDGE = 240  # the flag is left of this column in grace_hopper.jpg, sky right of it


def demo_truth(shape: tuple[int, int]) -> np.ndarray:
    poly = np.array(json.loads(DEMO_POLYGON.read_text())["polygon_xy"], np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    return mask


def marked(seg: Segmenter, files: list[Path]) -> tuple[dict, list[tuple[float, Path]]]:
    shares = list(zip(marked_shares(seg, files), files, strict=True))
    values = np.array([s for s, _ in shares])
    summary = {
        "photos": len(files),
        "photos_over_1pct": int((values > 0.01).sum()),
        "mean_marked_share": float(values.mean()),
    }
    return summary, sorted(shares, key=lambda t: t[0], reverse=True)


def portraits(seg: Segmenter, samples) -> tuple[dict, list]:
    full, crops, worst = [], [], []
    for i, s in enumerate(samples):
        image, truth = load_pair(s)
        full.append(iou_score(seg.predict_mask(image), truth))
        crop = portrait_crop(image, truth, random.Random(i))
        if crop is None:
            continue
        iou = iou_score(seg.predict_mask(crop[0]), crop[1])
        crops.append(iou)
        worst.append((iou, s.stem, crop))
    worst.sort(key=lambda t: t[0])
    return {
        "photos": len(samples),
        "full_mean_iou": float(np.mean(full)),
        "crops": len(crops),
        "crop_mean_iou": float(np.mean(crops)) if crops else float("nan"),
    }, worst


def demo(seg: Segmenter) -> tuple[dict, np.ndarray]:
    image = load_image(sample_image())
    truth = demo_truth(image.shape[:2])
    pred = seg.predict_mask(image) > 0
    background = truth == 0
    left = np.zeros_like(background)
    left[:, :FLAG_RIGHT_EDGE] = True
    return {
        "iou": iou_score(pred, truth),
        "flag_marked": float(pred[background & left].mean()),
        "sky_marked": float(pred[background & ~left].mean()),
    }, pred


def _tile(image: np.ndarray, mask: np.ndarray, label: str, size: int = 240) -> np.ndarray:
    over = overlay(image, mask > 0)
    h, w = over.shape[:2]
    s = size / max(h, w)
    over = cv2.resize(over, (max(1, round(w * s)), max(1, round(h * s))))
    tile = np.full((size + 18, size, 3), 255, np.uint8)
    tile[18 : 18 + over.shape[0], : over.shape[1]] = over
    cv2.putText(tile, label[:34], (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    return tile


def gallery(tiles: list[np.ndarray], path: Path, columns: int = 4) -> None:
    tiles = tiles + [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def score(
    seg: Segmenter, root: Path, split: str, gallery_dir: Path | None, limit: int | None = None
) -> dict:
    row: dict = {}
    objects, worst_objects = marked(seg, negative_split(root / "objects", split)[:limit])
    row["objects"] = objects
    if (root / "backgrounds").is_dir():
        held = background_files(root / "backgrounds", 20)[1]
        row["backgrounds_held_out"] = marked(seg, held)[0]
    worst_crops = []
    for name in ("ccp", "humanseg290"):
        row[name], worst = portraits(seg, split_samples(root / name, split)[:limit])
        worst_crops += [(iou, f"{name} {stem}", crop) for iou, stem, crop in worst]
    row["demo"], demo_mask = demo(seg)
    if gallery_dir is not None:
        tiles = [
            _tile(load_image(f), seg.predict_mask(load_image(f)), f"{share:.1%} {f.stem}")
            for share, f in worst_objects[:12]
        ]
        gallery(tiles, gallery_dir / "worst-objects.png")
        worst_crops.sort(key=lambda t: t[0])
        tiles = [
            _tile(crop[0], seg.predict_mask(crop[0]), f"IoU {iou:.3f} {name}")
            for iou, name, crop in worst_crops[:12]
        ]
        gallery(tiles, gallery_dir / "worst-portraits.png")
        gallery(
            [_tile(load_image(sample_image()), demo_mask, "demo", 360)], gallery_dir / "demo.png"
        )
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["default"])
    p.add_argument("--root", default="../shared/data", help="holds ccp, humanseg290, objects")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--backend", default="torch", choices=["torch", "onnx", "openvino"])
    p.add_argument("--input-size", type=int, default=448, help="for a run's checkpoint")
    p.add_argument("--limit", type=int, help="only the first N photos of each split")
    p.add_argument("--gallery", help="folder for the worst-case galleries (one per model)")
    p.add_argument("--json")
    a = p.parse_args()
    results = {}
    for i, model in enumerate(a.models):
        seg = load_segmenter(model, a.backend)
        if model not in BUNDLED:  # a run's checkpoint: predict as the bundled models do
            seg.resize, seg.input_size = "fit", a.input_size
        out = Path(a.gallery) / f"{i}-{Path(model).parent.name or model}" if a.gallery else None
        results[model] = score(seg, Path(a.root), a.split, out, a.limit)
        print(json.dumps({model: results[model]}), flush=True)
    meta = {"split": a.split, "limit": a.limit, "root": a.root, "backend": a.backend}
    save({**meta, "models": results}, a.json)


if __name__ == "__main__":
    main()
