import csv
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from personseg import Segmenter
from personseg.checkpoint import atomic_save, load_checkpoint
from personseg.config import DataConfig, ModelConfig, TrainConfig
from personseg.data import SegmentationDataset, eval_transform, find_pairs, make_loader
from personseg.device import Runtime
from personseg.engine import evaluate, fit
from personseg.losses import CombinedLoss
from personseg.models import create_model


def tiny_config(root, out, epochs=2, **kw) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(roots=(str(root),), input_size=32, num_workers=0, val_fraction=0.25),
        model=ModelConfig("unet-small", {"base_channels": 4}),
        out=str(out),
        epochs=epochs,
        batch_size=4,
        device="cpu",
        **kw,
    )


def test_fit_writes_the_run_and_resume_continues(tiny_root, tmp_path):
    run = tmp_path / "run"
    result = fit(tiny_config(tiny_root, run, epochs=2))
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png", "config.yaml"):
        assert (run / name).is_file(), name
    assert not list(run.glob("*.tmp"))
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert result["epochs_run"] == 2
    saved = TrainConfig.load(run / "config.yaml")
    assert saved.model.name == "unet-small" and saved.data.input_size == 32

    last = torch.load(run / "last.pt", weights_only=True)
    assert last["format"] == "personseg-checkpoint-v2" and last["epoch"] == 2
    spec = last["spec"]  # beside the state_dict, plain types (weights_only)
    assert (spec["name"], spec["kwargs"]) == ("unet-small", {"base_channels": 4})
    assert spec["input_size"] == 32 and spec["mean"] == [0.485, 0.456, 0.406]
    assert spec["divisor"] == 16  # asked of UNet
    assert {"torch", "personseg"} <= set(spec["versions"])

    with pytest.raises(ValueError, match="already holds a run"):
        fit(tiny_config(tiny_root, run, epochs=3))
    with pytest.raises(ValueError, match="already finished epoch 2"):
        fit(tiny_config(tiny_root, run, epochs=2), resume=run)
    result = fit(tiny_config(tiny_root, run, epochs=3), resume=run)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert result["epochs_run"] == 1
    resumed = torch.load(run / "last.pt", weights_only=True)
    assert resumed["epoch"] == 3
    # the optimizer continued: Adam's step count is 3 epochs' worth of steps
    steps = resumed["training"]["optimizer"]["state"][0]["step"].item()
    assert steps == 3 * last["training"]["optimizer"]["state"][0]["step"].item() / 2


def test_an_interrupted_run_resumes_to_the_same_result_with_loader_workers(
    tiny_root, tmp_path, monkeypatch
):
    import personseg.engine.trainer as trainer

    def config(out):
        cfg = tiny_config(tiny_root, out, epochs=3)
        return replace(cfg, data=replace(cfg.data, num_workers=1))

    fit(config(tmp_path / "whole"))
    run_epoch = trainer.run_epoch

    def stop_at_3(run, epoch, *args, **kwargs):
        if epoch == 3:
            raise KeyboardInterrupt
        return run_epoch(run, epoch, *args, **kwargs)

    monkeypatch.setattr(trainer, "run_epoch", stop_at_3)
    with pytest.raises(KeyboardInterrupt):
        fit(config(tmp_path / "cut"))
    monkeypatch.setattr(trainer, "run_epoch", run_epoch)
    fit(config(tmp_path / "cut"), resume=tmp_path / "cut")
    whole, cut = (
        list(csv.DictReader((tmp_path / r / "metrics.csv").open())) for r in ("whole", "cut")
    )
    keys = ("lr", "train_loss", "val_loss", "val_dice")
    assert [[row[k] for k in keys] for row in whole] == [[row[k] for k in keys] for row in cut]


def test_resuming_with_more_epochs_follows_the_longer_schedule(tiny_root, tmp_path):
    fit(tiny_config(tiny_root, tmp_path / "short", epochs=2))
    fit(tiny_config(tiny_root, tmp_path / "short", epochs=4), resume=tmp_path / "short")
    fit(tiny_config(tiny_root, tmp_path / "long", epochs=4))
    short, long = (
        [float(r["lr"]) for r in csv.DictReader((tmp_path / d / "metrics.csv").open())]
        for d in ("short", "long")
    )
    assert short[2:] == pytest.approx(long[2:])  # epochs 3-4 on the 4-epoch cosine


def test_same_seed_gives_the_same_first_epoch(tiny_root, tmp_path):
    fit(tiny_config(tiny_root, tmp_path / "a", epochs=1))
    fit(tiny_config(tiny_root, tmp_path / "b", epochs=1))
    a = next(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    b = next(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))
    assert a["train_loss"] == b["train_loss"] and a["val_dice"] == b["val_dice"]


def test_early_stopping(tiny_root, tmp_path, monkeypatch):
    import personseg.engine.trainer as trainer

    scores = iter([0.5, 0.6, 0.55, 0.6, 0.59, 0.9, 0.9, 0.9])  # best at epoch 2, then flat

    def fake_evaluate(*args, **kwargs):
        return {
            "loss": 1.0,
            "mean_dice": next(scores),
            "mean_iou": 0.1,
            "mean_precision": 0.1,
            "mean_recall": 0.1,
            "mean_boundary_f1": 0.1,
        }

    monkeypatch.setattr(trainer, "evaluate", fake_evaluate)
    result = fit(tiny_config(tiny_root, tmp_path / "r", epochs=8, patience=3))
    assert result["stopped_early"] and result["epochs_run"] == 5 and result["best_epoch"] == 2
    assert torch.load(tmp_path / "r" / "best.pt", weights_only=True)["epoch"] == 2


def test_validation_counts_every_image(tiny_root):
    pairs, _, _ = find_pairs(tiny_root)  # 12 images, batch 5 leaves a partial batch of 2
    loader = make_loader(SegmentationDataset(pairs, eval_transform(32)), 5, train=False, workers=0)
    model = create_model("unet-small", base_channels=4)
    out = evaluate(model, loader, CombinedLoss(), Runtime(torch.device("cpu")))
    assert out["n_images"] == 12


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"a": 1}, path)

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_save({"a": Unsaveable()}, path)
    assert torch.load(path, weights_only=True) == {"a": 1}
    assert list(tmp_path.iterdir()) == [path]


def test_atomic_save_syncs_the_file_and_gives_it_plain_permissions(tmp_path, monkeypatch):
    import personseg.checkpoint as checkpoint

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = tmp_path / "x.pt"
    atomic_save({"a": 1}, path)
    assert len(synced) == 1  # on disk before it replaces the old file
    umask = os.umask(0o022)  # this test's own umask, read back independently
    try:
        atomic_save({"a": 2}, path)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # 0o666 less the umask: not mkstemp's 0o600


def test_wrong_checkpoints_are_clear_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"this is no checkpoint")
    with pytest.raises(ValueError, match=r"not a readable .* \(not a file torch.save wrote\)"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not written by `personseg train`"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_segmenter_returns_probabilities_at_image_resolution(tiny_root, tmp_path):
    fit(tiny_config(tiny_root, tmp_path / "run", epochs=1))
    seg = Segmenter.from_checkpoint(tmp_path / "run")  # a run dir means its best.pt
    for shape in [(37, 53, 3), (80, 20, 3), (25, 25)]:
        image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
        prob = seg.predict(image)
        assert prob.shape == shape[:2] and prob.dtype == np.float32
        assert prob.min() >= 0 and prob.max() <= 1
    assert seg.predict(image, size=(10, 12)).shape == (10, 12)
    mask = seg.predict_mask(tiny_root / "images" / "im000.jpg")
    assert mask.shape == (48, 40) and set(np.unique(mask)) <= {0, 255}


def test_config_validation_and_yaml_round_trip(tmp_path):
    with pytest.raises(ValueError, match=r"multiple of 16 for unet .* try 96"):
        TrainConfig(data={"input_size": 100})
    # the divisor is the model's own: 48 suits the U-Net, not EfficientNet-Lite's 5 halvings
    assert TrainConfig(data={"input_size": 48}).data.input_size == 48
    with pytest.raises(ValueError, match="multiple of 32 for unet-efficientnet-lite0"):
        TrainConfig(data={"input_size": 48}, model={"name": "unet-efficientnet-lite0"})
    # a run's config.yaml written before the rename still loads
    assert TrainConfig(data={"img_size": 64}).data.input_size == 64
    with pytest.raises(ValueError, match="unknown TrainConfig setting"):
        TrainConfig.from_dict({"epoch": 3})
    cfg = TrainConfig(data={"roots": ["a", "b"], "input_size": 64}, epochs=3)
    cfg.save(tmp_path / "c.yaml")
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["data"]["roots"] == ["a", "b"]
    assert TrainConfig.load(tmp_path / "c.yaml") == cfg


def test_predict_files_writes_every_image_in_batches(tiny_root, tmp_path):
    from personseg.inference import collect_inputs, predict_files

    fit(tiny_config(tiny_root, tmp_path / "run", epochs=1))
    seg = Segmenter.from_checkpoint(tmp_path / "run" / "best.pt")
    paths = collect_inputs([tiny_root / "images"])
    result = predict_files(seg, paths, tmp_path / "out", batch_size=5)  # 12 = 5 + 5 + 2
    assert len(result["written"]) == 12 and not result["failed"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{p.stem}_mask.png" for p in paths
    )
    seg.threshold = 0.999999  # nothing marked anywhere: every image is reported
    shown = predict_files(seg, paths[:2], tmp_path / "vis", visualize=True)
    assert shown["no_person"] == paths[:2]
    assert sorted(shown["written"]) == sorted((tmp_path / "vis").iterdir())  # all 6 counted
    assert len(shown["written"]) == 6


def test_training_figures_count_every_process(monkeypatch):
    """Under torchrun the epoch's loss and speed are over all processes' images, as validation
    is: here another process is faked that had 2 images with a loss sum of 10."""
    import personseg.engine.loop as loop
    from personseg.engine import train_one_epoch

    g = torch.Generator().manual_seed(3)
    batch = (torch.randn(2, 3, 32, 32, generator=g), torch.zeros(2, 1, 32, 32), None)
    rt = Runtime(torch.device("cpu"))

    def epoch():
        torch.manual_seed(0)
        model = create_model("unet-small", base_channels=4)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)  # the same loss both times
        return train_one_epoch(model, [batch], CombinedLoss(), opt, rt)

    alone = epoch()
    monkeypatch.setattr(loop, "sum_across", lambda v: [v[0] + 10.0, v[1] + 2])
    monkeypatch.setattr(loop, "gather_rows", lambda rows: np.concatenate([rows, rows]))
    together = epoch()
    assert together["loss"] == pytest.approx((alone["loss"] * 2 + 10.0) / 4)


def test_accumulating_two_half_batches_equals_one_full_batch():
    from torch import nn

    from personseg.engine import train_one_epoch

    def model_without_bn() -> nn.Module:  # BatchNorm would see different batches by design
        torch.manual_seed(0)
        m = create_model("unet-small", base_channels=4)
        for seq in [x for x in m.modules() if isinstance(x, nn.Sequential)]:
            for i, child in enumerate(seq):
                if isinstance(child, nn.BatchNorm2d):
                    seq[i] = nn.Identity()
        return m

    g = torch.Generator().manual_seed(1)
    images = torch.randn(4, 3, 32, 32, generator=g)
    masks = (torch.rand(4, 1, 32, 32, generator=g) > 0.5).float()
    rt = Runtime(torch.device("cpu"))
    whole, halves = model_without_bn(), model_without_bn()
    for model, batches, k in (
        (whole, [(images, masks, None)], 1),
        (halves, [(images[:2], masks[:2], None), (images[2:], masks[2:], None)], 2),
    ):
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        train_one_epoch(model, batches, CombinedLoss(), opt, rt, accumulate=k)
    for a, b in zip(whole.parameters(), halves.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(next(whole.parameters()), next(model_without_bn().parameters()))
    # a last, shorter group (one batch of an accumulation of two) steps with its full gradient
    lone = (torch.randn(2, 3, 32, 32, generator=g), (torch.rand(2, 1, 32, 32, generator=g) > 0.5))
    lone = (lone[0], lone[1].float(), None)
    whole, halves = model_without_bn(), model_without_bn()
    for model, batches, k in (
        (whole, [(images, masks, None), lone], 1),
        (halves, [(images[:2], masks[:2], None), (images[2:], masks[2:], None), lone], 2),
    ):
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        train_one_epoch(model, batches, CombinedLoss(), opt, rt, accumulate=k)
    for a, b in zip(whole.parameters(), halves.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_nan_loss_stops_training_with_a_clear_error(tiny_root, tmp_path, monkeypatch):
    import personseg.engine.trainer as trainer

    monkeypatch.setattr(
        trainer, "CombinedLoss", lambda alpha: lambda logits, t: logits.sum() * float("nan")
    )
    with pytest.raises(FloatingPointError, match="lower --lr"):
        fit(tiny_config(tiny_root, tmp_path / "r", epochs=1))
    assert not (tmp_path / "r" / "last.pt").exists()


def test_init_starts_from_a_checkpoint_and_refuses_another_architecture(
    tiny_root, tmp_path, monkeypatch
):
    import personseg.engine.trainer as trainer

    first = tmp_path / "first"
    fit(tiny_config(tiny_root, first, epochs=1))
    start = load_checkpoint(first / "last.pt").state_dict
    cfg = tiny_config(tiny_root, tmp_path / "second", epochs=1, init=str(first / "last.pt"))
    cfg = replace(cfg, data=replace(cfg.data, mean=(0.5, 0.5, 0.5)))
    seen, real = {}, trainer.train_one_epoch

    def spy(model, *args, **kwargs):
        if "w" not in seen:  # the weights as the first epoch begins
            seen["w"] = {k: v.clone() for k, v in model.state_dict().items()}
        return real(model, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", spy)
    fit(cfg)
    assert all(torch.equal(seen["w"][k].cpu(), v) for k, v in start.items())
    # the run takes the normalisation the weights were trained with
    assert yaml.safe_load((tmp_path / "second" / "config.yaml").read_text())["data"]["mean"] == [
        pytest.approx(m) for m in DataConfig().mean
    ]
    other = replace(
        cfg, out=str(tmp_path / "third"), model=ModelConfig("unet-efficientnet-lite0", {})
    )
    with pytest.raises(ValueError, match="holds a 'unet-small' model"):
        fit(other)
