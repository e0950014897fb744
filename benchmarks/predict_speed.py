"""Inference speed through Segmenter on real photos (pre- and post-processing included):
the plain fp32 eager model (the seed's way), personseg's default (precision auto, BatchNorm
folded into the convolutions, channels_last) and ONNX Runtime fp32.

    python benchmarks/predict_speed.py --json predict_speed.json
"""

from __future__ import annotations

from common import parser, save

from personseg.bench import bench_predict, real_images


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--images", type=int, default=32)
    a = p.parse_args()
    images = real_images(a.data, a.images)
    common = {
        "model": a.model,
        "input_size": a.input_size,
        "batch_size": a.batch_size,
        "images": images,
    }
    fp32 = bench_predict(precision="fp32", optimize=False, **common)
    auto = bench_predict(precision="auto", **common)
    ort = bench_predict(backend="onnx", **common)
    save(
        {
            "fp32_eager": fp32,
            "personseg_auto": auto,
            "onnxruntime_fp32": ort,
            "speedup_auto": fp32["ms_per_image"] / auto["ms_per_image"],
            "speedup_onnx": fp32["ms_per_image"] / ort["ms_per_image"],
        },
        a.json,
    )


if __name__ == "__main__":
    main()
