"""Training speed: the seed-style loop against personseg's, in one process, one after the other.

Seed-style: fp32, eager, contiguous memory, JPEGs decoded and resized every step (no cache),
square resize. personseg: precision auto (bf16 autocast on CPUs with native bf16),
channels_last, decode-once cache, letterbox. Same model, batch, images, loader workers.

    python benchmarks/train_speed.py --json train_speed.json
"""

from __future__ import annotations

from common import parser, save

from personseg.bench import bench_train


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    common = {
        "model": a.model,
        "input_size": a.input_size,
        "batch_size": a.batch_size,
        "steps": a.steps,
        "data_roots": a.data,
    }
    seed = bench_train(
        precision="fp32", channels_last=False, cache=False, resize="stretch", **common
    )
    ours = bench_train(precision="auto", **common)
    save(
        {
            "seed_style": seed,
            "personseg": ours,
            "speedup": ours["images_per_s"] / seed["images_per_s"],
        },
        a.json,
    )


if __name__ == "__main__":
    main()
