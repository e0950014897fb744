"""The runtime layer's model file: ModelSpec, Checkpoint save/load, resolving names, and files
of the first format (the bundled model until 2026-11-26, users' runs) still loading."""

from __future__ import annotations

import pytest
import torch

from personseg.checkpoint import (
    Checkpoint,
    ModelSpec,
    bundled_checkpoint,
    load_checkpoint,
    resolve_checkpoint,
)
from personseg.inference.segmenter import Segmenter
from personseg.models import create_model


def tiny_spec(**kw) -> ModelSpec:
    return ModelSpec("unet-small", {"base_channels": 4}, input_size=32, **kw)


def test_spec_asks_the_model_for_its_divisor_and_checks_sizes():
    assert tiny_spec().divisor == 16
    lite = ModelSpec("unet-efficientnet-lite0", input_size=64)
    assert lite.divisor == 32
    with pytest.raises(ValueError, match=r"multiple of 32 .* try 64"):
        lite.replace(input_size=48)
    with pytest.raises(ValueError, match="resize must be one of"):
        tiny_spec(resize="crop")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        ModelSpec("nope")


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(0)
    model = create_model("unet-small", base_channels=4).eval()
    spec = tiny_spec(mean=(0.5, 0.5, 0.5), threshold=0.4)
    Checkpoint(spec, model.state_dict(), {"val_dice": 0.5}, epoch=3).save(tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)  # plain types only
    assert raw["spec"]["mean"] == [0.5, 0.5, 0.5] and "training" not in raw
    back = load_checkpoint(tmp_path / "m.pt")
    assert back.spec == spec and back.epoch == 3 and back.metrics == {"val_dice": 0.5}
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(back.model()(x), model(x))


def test_first_format_files_still_load(tmp_path):
    model = create_model("unet-small", base_channels=4)
    legacy = {  # as `personseg train` wrote them until 2026-11-26
        "format": "personseg-checkpoint-v1",
        "model": {"name": "unet-small", "kwargs": {"base_channels": 4}},
        "state_dict": model.state_dict(),
        "input_size": 32,
        "resize": "fit",
        "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3},
        "threshold": 0.45,
        "metrics": {"val_dice": 0.7},
        "epoch": 2,
        "versions": {"personseg": "0.1.0"},
        "optimizer": {"state": {}, "param_groups": []},
        "best_epoch": 1,
    }
    torch.save(legacy, tmp_path / "last.pt")
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt.spec == ModelSpec(
        "unet-small",
        {"base_channels": 4},
        input_size=32,
        resize="fit",
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        threshold=0.45,
        versions={"personseg": "0.1.0"},
    )
    assert ckpt.training == {"optimizer": legacy["optimizer"], "best_epoch": 1}
    seg = Segmenter.load(tmp_path / "last.pt", device="cpu")
    assert (seg.input_size, seg.threshold, seg.resize) == (32, 0.45, "fit")


def test_names_resolve_and_the_bundled_model_is_first_format_or_later(tmp_path):
    (tmp_path / "run").mkdir()
    assert resolve_checkpoint(tmp_path / "run") == tmp_path / "run" / "best.pt"
    assert resolve_checkpoint("default") == bundled_checkpoint()
    with pytest.raises(ValueError, match="no bundled model named 'fastest'"):
        bundled_checkpoint("fastest")
    assert load_checkpoint("default").spec.divisor == 32


def test_onnx_backend_needs_an_exported_file(tmp_path):
    model = create_model("unet-small", base_channels=4)
    Checkpoint(tiny_spec(), model.state_dict()).save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="export it first"):
        Segmenter.load(tmp_path / "m.pt", backend="onnx")
    seg = Segmenter.load(tmp_path / "m.pt", device="cpu")
    with pytest.raises(ValueError, match="multiple of 16"):
        seg.input_size = 40
    seg.input_size = 48
    assert seg.prepare(torch.zeros(30, 30, 3, dtype=torch.uint8).numpy())[0].shape == (3, 48, 48)


def test_the_bundled_onnx_model_carries_the_same_spec():
    from personseg.checkpoint import bundled_onnx
    from personseg.inference.onnx_runner import OrtRunner

    onnx_spec = OrtRunner(bundled_onnx()).spec  # metadata of the first format: flat keys
    pt_spec = load_checkpoint("default").spec
    assert onnx_spec.replace(versions={}) == pt_spec.replace(versions={})


def test_a_run_of_the_first_format_resumes(tiny_root, tmp_path):
    from personseg.config import TrainConfig
    from personseg.engine import fit

    cfg = TrainConfig(
        data={"roots": [str(tiny_root)], "input_size": 32, "num_workers": 0},
        model={"name": "unet-small", "kwargs": {"base_channels": 4}},
        out=str(tmp_path / "run"),
        epochs=1,
        batch_size=4,
        device="cpu",
    )
    fit(cfg)
    new = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    spec = new["spec"]
    legacy = {  # the same run as the first format wrote it
        "format": "personseg-checkpoint-v1",
        "model": {"name": spec["name"], "kwargs": spec["kwargs"]},
        "input_size": spec["input_size"],
        "resize": spec["resize"],
        "normalization": {"mean": spec["mean"], "std": spec["std"]},
        "threshold": spec["threshold"],
        **{k: new[k] for k in ("state_dict", "metrics", "epoch", "config")},
        **new["training"],
    }
    torch.save(legacy, tmp_path / "run" / "last.pt")
    result = fit(cfg.__class__.from_dict({**cfg.to_dict(), "epochs": 2}), resume=tmp_path / "run")
    assert result["epochs_run"] == 1
    resumed = load_checkpoint(tmp_path / "run" / "last.pt")
    assert resumed.epoch == 2 and len(resumed.training["history"]) == 2
