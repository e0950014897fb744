"""Quality and speed of person models on the validation splits, for the comparison table in
docs/benchmarks.md and the figures in MODEL_CARD.md.

For each model and each data root: mean IoU, mean Dice, boundary F1 (3 px) on ``val.txt`` at
the masks' own resolution (``evaluate_samples``, with the guided-filter edge that every output
has by default), the same with the network's own edge (``--refine``: ``refine="none"``),
ms/image with PyTorch and ONNX Runtime (batch 1, pre/post-processing and edge filter included,
file decoding excluded), the median ms for a 256×256 photo, a 640×480 frame and a ccp photo
(5 rounds of 40 calls each), and on held-out person-free photos the share of photos where more than
1 % of the pixels are marked.

    python benchmarks/default_model.py --models default runs/ref/best.pt --json default.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import DEFAULT_DATA, load_segmenter, marked_shares, median_ms, save

from personseg.data import load_image
from personseg.data.splits import split_samples
from personseg.data.synth import background_files
from personseg.inference import Segmenter, evaluate_samples


def edge_scores(seg: Segmenter, samples) -> dict[str, float]:
    """Scores with the network's own edge and with the guided-filter edge."""
    keys, scores, own = ("mean_iou", "mean_dice", "mean_boundary_f1"), {}, seg.refine
    for refine, name in (("none", "plain"), ("guided", "guided")):
        seg.refine = refine
        r = evaluate_samples(seg, samples)
        scores.update({f"{name}_{k}": r[k] for k in keys})
    seg.refine = own
    return scores


def false_positives(seg: Segmenter, files) -> dict[str, float]:
    fractions = marked_shares(seg, files)
    return {
        "photos": len(files),
        "photos_over_1pct": int(sum(f > 0.01 for f in fractions)),
        "mean_marked_fraction": float(np.mean(fractions)),
    }


def photo_speed(
    seg: Segmenter, ccp_photo: Path, calls: int = 40, rounds: int = 5
) -> dict[str, float]:
    """Median ms of single-photo predictions (pre/post included, decoding excluded) for a
    256×256 photo, a 640×480 video frame and a ccp photo: ``rounds`` rounds of ``calls``
    calls, taking turns; the median of the rounds' medians and their range (this machine
    class drifts by 10-25 % between rounds)."""
    rng = np.random.default_rng(0)
    photos = {
        "256x256": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
        "640x480": rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
        "ccp_550x830": load_image(ccp_photo),
    }
    medians: dict[str, list[float]] = {name: [] for name in photos}
    for _ in range(rounds):
        for name, image in photos.items():
            medians[name].append(median_ms(seg, image, calls))
    result: dict = {name: float(np.median(m)) for name, m in medians.items()}
    result["range"] = {name: [min(m), max(m)] for name, m in medians.items()}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["default"])
    p.add_argument("--data", nargs="+", default=DEFAULT_DATA)
    p.add_argument("--backgrounds", default="../shared/data/backgrounds")
    p.add_argument("--holdout", type=int, default=20, help="last N backgrounds (never trained on)")
    p.add_argument("--refine", action="store_true", help="also score the network's own edge")
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    _, held = background_files(a.backgrounds, a.holdout)
    ccp_photo = split_samples(a.data[0])[0].image
    results = {}
    for model in a.models:
        backends = ["torch"] if a.no_onnx else ["torch", "onnx"]
        row: dict = {}
        for backend in backends:
            seg = load_segmenter(model, backend)
            for root in a.data:
                r = evaluate_samples(seg, split_samples(root))
                name = Path(root).name
                if backend == "torch":
                    row[name] = {
                        k: r[k] for k in ("n_images", "mean_iou", "mean_dice", "mean_boundary_f1")
                    }
                    if a.refine:
                        row[name]["edges"] = edge_scores(seg, split_samples(root))
                row[name][f"ms_per_image_{backend}"] = r["ms_per_image"]
                row[name][f"mean_iou_{backend}"] = r["mean_iou"]
            row[f"photo_ms_{backend}"] = photo_speed(seg, ccp_photo)
            if backend == "torch":
                row["backgrounds_held_out"] = false_positives(seg, held)
        results[model] = row
    save({"models": results}, a.json)


if __name__ == "__main__":
    main()
