"""Package a trained run as a bundled model: the slim PyTorch weights (float16, ``fit`` input
shape) and its ONNX model: for ``default`` int8, calibrated on training photos; for ``fast``
fp32 (int8 is slower for a network that small here, docs/benchmarks.md).

    python benchmarks/package_default.py runs/person-default/last.pt
    python benchmarks/package_default.py runs/person-fast/last.pt --name fast

Calibration uses the first 30 ids of ccp ``train.txt``, the first 10 of humanseg290's and the
first 10 photos of ``objects/train.txt`` (never validation photos). Both files go to
``src/personseg/weights/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from personseg.checkpoint import BUNDLED, BUNDLED_ONNX
from personseg.data.splits import load_root, negative_split, read_split, select
from personseg.export import export_onnx, quantize_onnx, slim_checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "personseg" / "weights"


def calibration_images(roots: dict[str, int]) -> list[Path]:
    images = []
    for root, n in roots.items():
        stems = read_split(Path(root) / "train.txt")[:n]
        images += [s.image for s in select(load_root(root), stems, f"{root}/train.txt")]
    return images


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--ccp", default="../shared/data/ccp")
    p.add_argument("--humanseg", default="../shared/data/humanseg290")
    p.add_argument("--objects", default="../shared/data/objects", help="photos with nobody in them")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="input size at prediction (fit); default: the training size",
    )
    p.add_argument("--name", choices=sorted(BUNDLED), default="default")
    a = p.parse_args()
    pt = WEIGHTS / f"{BUNDLED[a.name]}.pt"
    b = slim_checkpoint(a.checkpoint, pt, resize="fit", input_size=a.size)
    print(f"{pt}: {b['size_mb']:.1f} MB, max probability difference {b['max_abs_diff']:.1e}")
    images = calibration_images({a.ccp: 30, a.humanseg: 10}) + negative_split(a.objects)[:10]
    out = WEIGHTS / BUNDLED_ONNX[a.name]
    int8 = out.stem.endswith("-int8")
    fp32 = WEIGHTS / f"{BUNDLED[a.name]}-fp32.onnx" if int8 else out
    r = export_onnx(pt, fp32, check_images=images)
    print(f"{fp32}: parity max difference {r['max_abs_diff']:.1e}, mask IoU {r['mask_iou']:.5f}")
    if int8:
        q = quantize_onnx(fp32, out, images)
        fp32.unlink()
        print(f"{out}: {q['size_mb']:.1f} MB, mask IoU vs fp32 {q['int8_mask_iou']:.4f}")


if __name__ == "__main__":
    main()
