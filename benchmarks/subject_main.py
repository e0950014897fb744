"""``--subject main`` against ``all``: mean IoU on ccp and humanseg290, whose masks mark the
main subject only, and a gallery of the photos where the two differ.

The network runs once per photo; each setting then goes through the Segmenter's own steps
after the network (regions chosen at the edge filter's size, guided filter, the mask's size).
Choose the rule's settings on ``--split train``; report ``val``.

    python benchmarks/subject_main.py --split train --peers 0.2 0.33 0.5 1   # choose
    python benchmarks/subject_main.py --json subject.json --gallery docs/images/subject-main.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from common import DEFAULT_DATA, machine, save
from tqdm import tqdm

from personseg.data import load_pair
from personseg.data.splits import split_samples
from personseg.inference import Segmenter
from personseg.inference.segmenter import sigmoid
from personseg.inference.subject import PEERS, SubjectFilter
from personseg.metrics import iou_score


def maps(seg: Segmenter, image: np.ndarray, size, settings: dict[str, SubjectFilter]) -> dict:
    """The Segmenter's map of ``image`` at ``size`` under each setting (one network run)."""
    x, box = seg.prepare(image)
    logits = seg._logits(x[None])
    stride = x.shape[-1] // logits.shape[-1]
    prob = sigmoid(logits)[0]
    return {k: seg._finish(prob, box, image, size, stride, f) for k, f in settings.items()}


def panel(image: np.ndarray, truth: np.ndarray, probs: list[np.ndarray], height=220) -> np.ndarray:
    """Photo, true mask, then each map as a mask, side by side at ``height`` pixels."""
    w = round(image.shape[1] * height / image.shape[0])
    tiles = [cv2.resize(image, (w, height), interpolation=cv2.INTER_AREA)]
    for m in [truth, *probs]:
        grey = cv2.resize((m > 0.5).astype(np.uint8) * 255, (w, height))
        tiles.append(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
    return np.hstack(tiles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", nargs="+", default=DEFAULT_DATA)
    ap.add_argument("--split", default="val", help="val (report) or train (choose settings)")
    ap.add_argument("--peers", nargs="+", type=float, default=[PEERS])
    ap.add_argument("--json")
    ap.add_argument("--gallery", help="PNG of the photos where all and main differ most")
    args = ap.parse_args()

    seg = Segmenter.load(args.model)
    settings = {"all": SubjectFilter("all")}
    settings |= {f"main peers={p:.2f}": SubjectFilter("main", peers=p) for p in args.peers}
    chosen = f"main peers={args.peers[0]:.2f}"
    result = {"machine": machine(), "model": args.model, "split": args.split, "sets": {}}
    differ = []
    for root in map(Path, args.data):
        ious = {k: [] for k in settings}
        for sample in tqdm(split_samples(root, args.split), desc=root.name):
            image, truth = load_pair(sample)
            probs = maps(seg, image, truth.shape, settings)
            for k, p in probs.items():
                ious[k].append(iou_score(p > seg.threshold, truth > 0))
            gain = ious[chosen][-1] - ious["all"][-1]
            if abs(gain) > 1e-3:
                differ.append((gain, root.name, sample.stem, image, truth, probs))
        n = len(ious["all"])
        result["sets"][root.name] = {
            "n": n,
            "mean_iou": {k: float(np.mean(v)) for k, v in ious.items()},
            "photos_changed": int(np.sum(np.abs(np.subtract(ious["all"], ious[chosen])) > 1e-3)),
        }
        print(root.name, n, {k: round(float(np.mean(v)), 4) for k, v in ious.items()})
    if args.gallery and differ:
        differ.sort(key=lambda d: d[0])
        rows = [panel(im, t, [p["all"], p[chosen]]) for *_, im, t, p in differ[:4] + differ[-8:]]
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
        cv2.imwrite(args.gallery, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        result["gallery"] = [f"{name}/{stem} {gain:+.3f}" for gain, name, stem, *_ in differ]
    if args.json:
        save(result, args.json)


if __name__ == "__main__":
    main()
