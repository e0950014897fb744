"""Does bf16 cost accuracy? Two identical short runs, fp32 and precision auto (bf16 where the
CPU has it), same seed and data; both checkpoints scored by `evaluate` on val.txt.

    python benchmarks/precision_quality.py --json precision_quality.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import save

from personseg.config import DataConfig, ModelConfig, TrainConfig
from personseg.data.splits import load_root, read_split, select
from personseg.engine import fit
from personseg.inference import Segmenter, evaluate_samples


def seg_path(run: dict) -> Path:
    return Path(run["run_dir"]) / "best.pt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/ccp")
    p.add_argument("--model", default="unet-small")
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--json")
    a = p.parse_args()
    val = select(load_root(a.data), read_split(Path(a.data) / "val.txt"), "val.txt")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "auto"):
            cfg = TrainConfig(
                data=DataConfig(roots=(a.data,), input_size=a.input_size),
                model=ModelConfig(a.model),
                epochs=a.epochs,
                patience=0,
                precision=precision,
                out=str(Path(tmp) / precision),
            )
            run = fit(cfg)
            seg = Segmenter.from_checkpoint(seg_path(run), precision="fp32")
            ev = evaluate_samples(seg, val)
            fast = evaluate_samples(Segmenter.from_checkpoint(seg_path(run), precision="auto"), val)
            results[precision] = {
                "evaluate_mean_dice_auto_inference": fast["mean_dice"],
                "train_val_dice": run["best_metrics"]["val_dice"],
                "evaluate_mean_dice": ev["mean_dice"],
                "evaluate_mean_iou": ev["mean_iou"],
                "train_images_per_s": run["best_metrics"]["train_images_per_s"],
            }
    results["dice_difference"] = (
        results["auto"]["evaluate_mean_dice"] - results["fp32"]["evaluate_mean_dice"]
    )
    save(
        {
            "data": a.data,
            "model": a.model,
            "input_size": a.input_size,
            "epochs": a.epochs,
            **results,
        },
        a.json,
    )


if __name__ == "__main__":
    main()
