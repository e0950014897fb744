"""Ablation of the person-semantics training data, on the train side only.

Each training split (ccp, humanseg290, objects) is cut in two: the first part trains short
fine-tunes of the base model (``configs/person-base.yaml``, see ``configs/person-default.yaml``
for how to get it), the last ``--holdout`` share is scored. Variants add, one at a
time: hard negatives (``objects`` train photos with empty masks), composites (training people
pasted beside the subject of ``objects``/``backgrounds`` photos), portrait crops; the last two
variants instead frame about half or a quarter of the composites as portraits (one person's
head-and-shoulders or half body in front of the photo's subject); ``fabric`` and ``fabric-pc``
add 300 procedural fabric photos (flags, striped cloth; ``fabric_photos.py``) to the negatives.
``val.txt`` is never read.

    python benchmarks/experiments/ablation_semantics.py --out runs/ablation  # about 50 min, 2 cores
    python benchmarks/semantics.py --root runs/ablation/data --models runs/ablation/*/last.pt
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from fabric_photos import write_fabrics

from personseg.data.splits import read_split

DATA = Path("../shared/data")
NEGATIVES = ["--negatives", "{data}/objects", "--negatives-share", "0.3"]
COMPOSITES = [*NEGATIVES, "--composites", "400"]
VARIANTS = {  # the first three each add one part to the one before
    "negatives": NEGATIVES,
    "composites": COMPOSITES,
    "portraits": [*COMPOSITES, "--portrait-prob", "0.25"],
    # composites, with about half (a quarter) of them framed as portraits
    "portrait-composites": [*COMPOSITES, "--composite-portraits", "0.5"],
    "portrait-composites-25": [*COMPOSITES, "--composite-portraits", "0.25"],
    # composites, with 300 fabric photos (flags, striped cloth: fabric_photos.py) among negatives
    "fabric": [*COMPOSITES, "--negatives", "{data}/fabrics"],
    "fabric-pc": [*COMPOSITES, "--negatives", "{data}/fabrics", "--composite-portraits", "0.5"],
}


def holdout_root(src: Path, dst: Path, share: float) -> None:
    """``dst`` links ``src``'s files; its train.txt/val.txt split ``src``'s train.txt."""
    dst.mkdir(parents=True, exist_ok=True)
    for sub in ("images", "masks"):
        if (src / sub).is_dir() and not (dst / sub).exists():
            (dst / sub).symlink_to((src / sub).resolve())
    stems = read_split(src / "train.txt")
    cut = len(stems) - round(len(stems) * share)
    (dst / "train.txt").write_text("\n".join(stems[:cut]) + "\n")
    (dst / "val.txt").write_text("\n".join(stems[cut:]) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--out", default="runs/ablation")
    p.add_argument("--holdout", type=float, default=0.12)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--input-size", type=int, default=320)
    p.add_argument("--config", default="configs/person-base.yaml", help="the rest of the run")
    p.add_argument("--init", default="runs/person-base/best.pt", help="the base model")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = p.parse_args()
    data, out = Path(args.data), Path(args.out)
    for name in ("ccp", "humanseg290", "objects"):
        holdout_root(data / name, out / "data" / name, args.holdout)
    fabrics = out / "data" / "fabrics"
    if any("fabric" in v for v in args.variants) and len(list(fabrics.glob("images/*.jpg"))) != 300:
        write_fabrics(fabrics, 300)  # again whole, should an earlier run have stopped halfway
    for variant in args.variants:
        extra = [a.format(data=out / "data") for a in VARIANTS[variant]]
        cmd = [
            sys.executable,
            "-m",
            "personseg",
            "train",
            "--config",
            args.config,
            "--init",
            args.init,
            "--data",
            str(out / "data" / "ccp"),
            "--data",
            str(out / "data" / "humanseg290"),
            "--input-size",
            str(args.input_size),
            "--epochs",
            str(args.epochs),
            "--lr",
            "0.0003",
            *extra,
            "--out",
            str(out / variant),
        ]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
