"""torchrun + DistributedDataParallel on the CPU (Gloo, 2 processes), on real photos."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import textwrap

import cv2
import pytest
import torch
from conftest import ENV, real_subset, run
from test_negatives import write_negatives

from personseg.checkpoint import load_checkpoint
from personseg.config import TrainConfig
from personseg.data import SegmentationDataset, eval_transform, make_loader, split_roots
from personseg.device import Runtime
from personseg.engine import evaluate
from personseg.losses import CombinedLoss

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
SMALL = [
    "--model",
    "unet-small",
    "--model-arg",
    "base_channels=8",
    "--input-size",
    "64",
    "--batch-size",
    "2",
    "--workers",
    "0",
    "--precision",
    "fp32",
]


def rows(run_dir) -> list[dict]:
    return list(csv.DictReader((run_dir / "metrics.csv").open()))


def test_two_processes_train_validate_like_one_and_resume(tmp_path, shared_data):
    root = real_subset(shared_data, tmp_path / "ccp", "ccp", n_train=16, n_val=7)
    run_dir = tmp_path / "run"
    neg = write_negatives(tmp_path / "neg")
    (neg / "val.txt").write_text("neg5\n")  # one val negative: rank 1 scores none of them
    proc = run(
        "train",
        *("--nproc", "2", "--data", str(root), "--negatives", str(neg), *SMALL),
        *("--epochs", "2", "--out", str(run_dir)),
    )
    assert "distributed: 2 processes (gloo)" in proc.stderr
    assert all(r["val_neg_flagged"] in ("0.0", "1.0") for r in rows(run_dir))
    assert "weights identical on all 2 processes" in proc.stderr
    assert [r["epoch"] for r in rows(run_dir)] == ["1", "2"]

    # the checkpoint holds the bare model: it loads in one process without DDP, and one
    # process scoring the same 7 validation images (7 = 4 + 3 across ranks: uneven shards)
    # gives the distributed figures of that epoch
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert not any(k.startswith("module.") for k in ckpt.state_dict)
    cfg = TrainConfig.load(run_dir / "config.yaml")
    _, val = split_roots([root])
    ds = SegmentationDataset(val, eval_transform(64), cache_size=round(64 * 1.25))
    rt = Runtime(torch.device("cpu"), "fp32", cfg.channels_last)
    single = evaluate(
        rt.prepare(ckpt.model()),
        make_loader(ds, 2, train=False, workers=0),
        CombinedLoss(),
        rt,
    )
    last = rows(run_dir)[-1]
    assert single["n_images"] == 7
    for key, col in (("mean_dice", "val_dice"), ("mean_iou", "val_iou"), ("loss", "val_loss")):
        assert single[key] == pytest.approx(float(last[col]), abs=1e-6), key

    proc = run("train", "--nproc", "2", "--resume", str(run_dir), "--epochs", "3")
    assert "at epoch 3" in proc.stderr
    assert [r["epoch"] for r in rows(run_dir)] == ["1", "2", "3"]


STEP = textwrap.dedent("""
    import sys
    import torch
    from torch import nn
    from personseg.device import Runtime
    from personseg.engine.distributed import close_distributed, init_distributed, is_dist
    from personseg.engine.distributed import rank, world_size
    from personseg.engine.loop import train_one_epoch
    from personseg.losses import CombinedLoss
    from personseg.models import create_model

    def no_bn(module):  # BatchNorm statistics differ per process by design: leave them out
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())
            else:
                no_bn(child)

    init_distributed("cpu")
    torch.manual_seed(0)
    model = create_model("unet-small", base_channels=4)
    no_bn(model)
    g = torch.Generator().manual_seed(1)
    images = torch.randn(4, 3, 32, 32, generator=g)
    masks = (torch.rand(4, 1, 32, 32, generator=g) > 0.5).float()
    n = 4 // world_size()
    part = slice(rank() * n, (rank() + 1) * n)
    net = nn.parallel.DistributedDataParallel(model) if is_dist() else model
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    train_one_epoch(net, [(images[part], masks[part], None)], CombinedLoss(), opt,
                    Runtime(torch.device("cpu")))
    if rank() == 0:
        torch.save(model.state_dict(), sys.argv[1])
    close_distributed(wait=True)
""")


def test_one_step_on_two_processes_equals_one_step_on_one(tmp_path):
    script = tmp_path / "step.py"
    script.write_text(STEP)
    single, double = tmp_path / "one.pt", tmp_path / "two.pt"
    for cmd, out in (
        ([sys.executable, str(script)], single),
        (
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node=2",
                str(script),
            ],
            double,
        ),
    ):
        proc = subprocess.run(
            [*cmd, str(out)], env=ENV, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = torch.load(single, weights_only=True), torch.load(double, weights_only=True)
    start = torch.load(single, weights_only=True)  # same keys
    assert a.keys() == b.keys() == start.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_a_failing_process_stops_the_other(tmp_path, shared_data):
    """One photo is a PNG whose header reads but whose pixels do not decode: only the process
    whose shard holds it fails, mid-epoch; the other must not hang in a collective."""
    root = real_subset(shared_data, tmp_path / "ccp", "ccp", n_train=8, n_val=4)
    stem = (root / "train.txt").read_text().split()[0]
    jpg = root / "images" / f"{stem}.jpg"
    cv2.imwrite(str(root / "images" / f"{stem}.png"), cv2.imread(str(jpg)))
    jpg.unlink()
    data = bytearray((root / "images" / f"{stem}.png").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 200] = bytes(200)  # IDAT CRC error
    (root / "images" / f"{stem}.png").write_bytes(bytes(data))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "personseg",
            "train",
            "--nproc",
            "2",
            "--data",
            str(root),
            *SMALL,
            "--epochs",
            "2",
            "--no-cache",
            "--out",
            str(tmp_path / "run"),
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode != 0
    # one error line (it may follow the other rank's progress bar on the same line)
    errors = re.findall(r"personseg train: error: [^\r\n]*", proc.stderr)
    assert len(errors) == 1 and f"{stem}.png is truncated or corrupt" in errors[0]
