"""Box-level checks on everyday photos of people (``people_boxes/val.txt``: streets, sports,
events, crowds; person boxes, no masks): does a model mark someone in every box, and how much
does it mark outside every box.

Per model: the share of boxes with at least 5 % of their pixels marked (``pseudo-label``'s
rule for a box the model found), the share of photos where every box is found, and the mean
share of a photo's pixels marked outside every box (unboxed bystanders in crowds count there
too, so it is not all false positives; compare models on it, not with zero).

    python benchmarks/boxes_check.py --models fast default [mediapipe] --json boxes.json

``mediapipe`` needs MediaPipe's environment (``benchmarks/vs_mediapipe.py``'s docstring).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import load_segmenter, save

from personseg.data import load_image
from personseg.data.splits import read_split
from personseg.inference.pseudo import PseudoRule, read_boxes

RULE = PseudoRule()


def check(seg, root: Path, split: str) -> dict:
    found, boxes, all_found, outside = 0, 0, 0, []
    stems = read_split(root / f"{split}.txt")
    for stem in stems:
        image = load_image(root / "images" / f"{stem}.jpg")
        marked = seg.predict(image) > seg.threshold
        inside = np.zeros(marked.shape, bool)
        photo_found = True
        for x0, y0, x1, y1 in read_boxes(root / "labels" / f"{stem}.txt", marked.shape, None):
            if x1 <= x0 or y1 <= y0:
                continue
            inside[y0:y1, x0:x1] = True
            hit = bool(marked[y0:y1, x0:x1].mean() >= RULE.min_box_fill)
            found, boxes, photo_found = found + hit, boxes + 1, photo_found and hit
        all_found += photo_found
        outside.append(float((marked & ~inside).mean()))
    return {
        "photos": len(stems),
        "boxes": boxes,
        "boxes_found": found / boxes,
        "photos_all_found": all_found / len(stems),
        "marked_outside_boxes": float(np.mean(outside)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["fast", "default"])
    p.add_argument("--backend", default="onnx", choices=["onnx", "openvino", "torch"])
    p.add_argument("--root", default="../shared/data/people_boxes")
    p.add_argument("--split", default="val")
    p.add_argument("--json")
    a = p.parse_args()
    results = {}
    for name in a.models:
        if name == "mediapipe":
            from vs_mediapipe import MediaPipeSelfie

            seg = MediaPipeSelfie()
        else:
            seg = load_segmenter(name, a.backend)
        results[name] = check(seg, Path(a.root), a.split)
        print(name, results[name], flush=True)
    save({"backend": a.backend, "split": a.split, "results": results}, a.json)


if __name__ == "__main__":
    main()
