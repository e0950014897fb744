"""Where a model's remaining error is, and which prediction settings to ship.

For each data root and split (``train`` and ``val``) and each input size (``fit`` shape, with
and without the rule that a photo is never enlarged past its own pixel count), the mean IoU at
the masks' own resolution; then, with the model's own input settings, the mean IoU at other
thresholds, the error split by distance to the true boundary (within 3 px, 3-8 px, further)
and the mean IoU when only the largest predicted region (or regions of at least 20 % of it)
is kept. Settings are chosen on ``train`` (the model underfits, so ``train`` and ``val`` agree)
and reported on ``val``.

    python benchmarks/error_analysis.py --model default --sizes 256 320 384 --json errors.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from common import DEFAULT_DATA, load_segmenter, save

from personseg.data import load_image, load_mask
from personseg.data.splits import split_samples
from personseg.inference import Segmenter
from personseg.inference.effects import REFINES
from personseg.metrics import iou_score

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def keep_regions(mask: np.ndarray, share: float) -> np.ndarray:
    """Only the connected regions of at least ``share`` of the largest one's area."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = areas >= share * areas.max()
    return keep[labels]


def error_bands(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Wrong pixels as a share of the union, by distance to the true boundary."""
    edge = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    dist = cv2.distanceTransform(1 - edge, cv2.DIST_L2, 3)
    wrong, union = pred ^ truth, max((pred | truth).sum(), 1)
    return {
        "within_3px": float((wrong & (dist <= 3)).sum() / union),
        "3_to_8px": float((wrong & (dist > 3) & (dist <= 8)).sum() / union),
        "further": float((wrong & (dist > 8)).sum() / union),
    }


def analyse(seg: Segmenter, data: list) -> dict:
    truths = [t for _, t in data]
    probs = [seg.predict(image, truth.shape) for image, truth in data]
    masks = [p > 0.5 for p in probs]

    def mean_iou(preds: list[np.ndarray]) -> float:
        return float(np.mean([iou_score(p, t) for p, t in zip(preds, truths, strict=True)]))

    bands = [error_bands(m, t) for m, t in zip(masks, truths, strict=True)]
    return {
        "size": seg.input_size,
        "mean_iou_by_threshold": {str(th): mean_iou([p > th for p in probs]) for th in THRESHOLDS},
        "error_by_distance_to_boundary": {
            k: float(np.mean([b[k] for b in bands])) for k in bands[0]
        },
        "mean_iou_largest_region_only": mean_iou([keep_regions(m, 1.0) for m in masks]),
        "mean_iou_regions_over_20pct": mean_iou([keep_regions(m, 0.2) for m in masks]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--backend", default="onnx", choices=["torch", "onnx", "openvino"])
    p.add_argument("--data", nargs="+", default=DEFAULT_DATA)
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 320, 384])
    p.add_argument("--refine", choices=REFINES, default="guided", help="edge (default guided)")
    p.add_argument("--json")
    a = p.parse_args()
    seg = load_segmenter(a.model, a.backend)
    seg.refine = a.refine
    own = seg.input_size, seg.resize
    results: dict = {
        "model": a.model,
        "backend": a.backend,
        "refine": a.refine,
        "input_size": own[0],
        "sets": {},
    }
    for root in a.data:
        for split in ("train", "val"):
            samples = split_samples(root, split)
            data = [(load_image(s.image), load_mask(s.mask).astype(bool)) for s in samples]
            row: dict = {"n_images": len(data), "mean_iou_by_size": {}}
            for size in a.sizes:
                for no_enlarge in (False, True):
                    seg.input_size, seg.resize, seg.enlarge = size, "fit", not no_enlarge
                    scores = [iou_score(seg.predict(im, t.shape) > 0.5, t) for im, t in data]
                    key = f"{size}{' no-enlarge' if no_enlarge else ''}"
                    row["mean_iou_by_size"][key] = float(np.mean(scores))
                    print(f"{Path(root).name} {split} {key}: {np.mean(scores):.4f}", flush=True)
            (seg.input_size, seg.resize), seg.enlarge = own, False  # the model's own settings
            row["at_own_size"] = analyse(seg, data)
            results["sets"][f"{Path(root).name}/{split}"] = row
    save(results, a.json)


if __name__ == "__main__":
    main()
