"""Weight-space ensemble of a fine-tuned model and the model it started from (Wortsman et al.,
"Robust fine-tuning of zero-shot models", CVPR 2022: WiSE-FT): every floating-point tensor of
the state dict is ``alpha * fine_tuned + (1 - alpha) * start`` (BatchNorm running statistics
too, averaged rather than re-estimated); the rest (batch counts) and the metadata are the
fine-tuned checkpoint's, without its training metrics.

    python benchmarks/experiments/blend.py runs/person-default/last.pt runs/person-base/best.pt \\
        --alpha 0.7 --out runs/person-default/blend.pt
"""

from __future__ import annotations

import argparse

from personseg.checkpoint import Checkpoint, load_checkpoint


def blend(fine_tuned: Checkpoint, start: Checkpoint, alpha: float) -> Checkpoint:
    """The fine-tuned checkpoint with its weights moved ``1 - alpha`` of the way back (its
    metrics and training state dropped: they describe other weights)."""
    a, b = fine_tuned.spec, start.spec
    if (a.name, a.kwargs) != (b.name, b.kwargs):
        raise ValueError(f"different models: {a.name} {a.kwargs} and {b.name} {b.kwargs}")
    if fine_tuned.state_dict.keys() != start.state_dict.keys():
        raise ValueError("the two checkpoints hold different tensors")
    state = {}
    for key, value in fine_tuned.state_dict.items():
        other = start.state_dict[key]
        if value.is_floating_point():
            state[key] = alpha * value.float() + (1 - alpha) * other.float()
        else:
            state[key] = value
    config = {**fine_tuned.config, "blend": {"alpha": alpha}}
    return Checkpoint(a, state, epoch=fine_tuned.epoch, config=config)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("fine_tuned")
    p.add_argument("start")
    p.add_argument("--alpha", type=float, required=True, help="share of the fine-tuned weights")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if not 0.0 <= a.alpha <= 1.0:
        raise SystemExit("--alpha must be in [0, 1]")
    blend(load_checkpoint(a.fine_tuned), load_checkpoint(a.start), a.alpha).save(a.out)
    print(f"{a.out}: {a.alpha} x {a.fine_tuned} + {1 - a.alpha:.2f} x {a.start}")


if __name__ == "__main__":
    main()
