"""Crowds and small people: how a model does on scenes it was never trained on.

People cut out of ccp ``val.txt`` photos with their masks (never trained on; ``--split train``
for settings chosen on training people) are pasted into the
held-out person-free backgrounds (the last ``--holdout`` of ``backgrounds/``, never trained on),
at 640×360 and scaled up to 1920×1080 (a phone photo's size), in three groups: one large person
(40–90 % of the photo's height), 3–6 people at 20–45 %, and 3–6 small people at 8–20 %. For each
group, canvas and input size: mean IoU against the pasted people's masks, and the share of
people found (at least half of a person's visible pixels marked).

    python benchmarks/scenes.py --model default --sizes 384 512 --json scenes.json
"""

from __future__ import annotations

import argparse
import random

import cv2
import numpy as np
from common import load_segmenter, save

from personseg.data import load_image, load_pair
from personseg.data.splits import split_samples
from personseg.data.synth import background_files, paste_people, person_cutout
from personseg.metrics import iou_score

GROUPS = {  # name: (people, height range as a share of the photo's height)
    "one large": ((1, 1), (0.4, 0.9)),
    "3-6 medium": ((3, 6), (0.2, 0.45)),
    "3-6 small": ((3, 6), (0.08, 0.2)),
}
CANVASES = {"640x360": (640, 360), "1920x1080": (1920, 1080)}


def person_cutouts(root: str, split: str = "val") -> list[np.ndarray]:
    """RGBA cut-outs of the people of ``root``'s ``<split>.txt`` (box of the mask, mask as
    alpha)."""
    people = (person_cutout(*load_pair(s), soft_edge=False) for s in split_samples(root, split))
    return [p for p in people if p is not None]


def make_scene(
    background: np.ndarray, cutouts: list[np.ndarray], group: str, rng: random.Random
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A scene and each pasted person's visible mask (later people hide earlier ones)."""
    (lo, hi), heights = GROUPS[group]
    image, union, people = background, np.zeros(background.shape[:2], np.uint8), []
    for _ in range(rng.randint(lo, hi)):
        image, new_union = paste_people(image, union, cutouts, 1, heights, rng)
        added = (new_union > 0) & (union == 0)
        people = [p & ~added for p in people] + [added]
        union = new_union
    return image, [p for p in people if p.sum() > 0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--backend", default="onnx", choices=["torch", "onnx", "openvino"])
    p.add_argument("--people", default="../shared/data/ccp", help="data root of the people")
    p.add_argument("--split", default="val", choices=["val", "train"], help="whose people")
    p.add_argument("--backgrounds", default="../shared/data/backgrounds")
    p.add_argument("--holdout", type=int, default=20, help="last N backgrounds (never trained on)")
    p.add_argument("--scenes", type=int, default=3, help="scenes per background and group")
    p.add_argument("--sizes", nargs="+", type=int, help="input sizes (default: the model's)")
    p.add_argument("--json")
    a = p.parse_args()
    seg = load_segmenter(a.model, a.backend)
    cutouts = person_cutouts(a.people, a.split)
    _, held = background_files(a.backgrounds, a.holdout)
    rng = random.Random(0)
    scenes = []  # (canvas, group, image, people)
    for canvas, size in CANVASES.items():
        for path in held:
            bg = cv2.resize(load_image(path), size, interpolation=cv2.INTER_CUBIC)
            for group in GROUPS:
                for _ in range(a.scenes):
                    scenes.append((canvas, group, *make_scene(bg, cutouts, group, rng)))
    results: dict = {"model": a.model, "backend": a.backend, "split": a.split}
    results.update(scenes=len(scenes), rows=[])
    for size in a.sizes or [seg.input_size]:
        seg.input_size = size
        scores: dict = {}
        for canvas, group, image, people in scenes:
            pred = seg.predict(image) > seg.threshold
            truth = np.any(people, axis=0)
            found = [(pred & person).sum() >= 0.5 * person.sum() for person in people]
            row = scores.setdefault((canvas, group), {"iou": [], "found": []})
            row["iou"].append(iou_score(pred, truth))
            row["found"] += found
        for (canvas, group), row in scores.items():
            r = {
                "input_size": size,
                "canvas": canvas,
                "group": group,
                "scenes": len(row["iou"]),
                "people": len(row["found"]),
                "mean_iou": float(np.mean(row["iou"])),
                "people_found": float(np.mean(row["found"])),
            }
            results["rows"].append(r)
            print(
                f"fit {size} {canvas} {group}: IoU {r['mean_iou']:.4f}, "
                f"found {r['people_found']:.3f} of {r['people']}",
                flush=True,
            )
    save(results, a.json)


if __name__ == "__main__":
    main()
