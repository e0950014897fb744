"""The fast paths (bf16 autocast, channels_last, decode cache, bench) do what they claim; speed
itself is measured by benchmarks/, not here."""

import time

import numpy as np
import pytest
import torch

from personseg import device
from personseg.bench import bench_predict, bench_train
from personseg.data import SegmentationDataset, eval_transform, find_pairs
from personseg.device import Runtime, resolve_precision
from personseg.engine.state import grad_scaler
from personseg.models import create_model


def test_precision_auto_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("fp16", cpu) == "fp16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int4", cpu)
    assert not grad_scaler(cpu, "fp16").is_enabled()  # loss scaling is a CUDA fp16 matter


def test_bf16_channels_last_forward_is_close_to_fp32():
    torch.manual_seed(0)
    model = create_model("unet-small", base_channels=8).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        ref = torch.sigmoid(model(x))
        rt = Runtime(torch.device("cpu"), "bf16", channels_last=True)
        fast_model = rt.prepare(model)
        assert fast_model.inc[0].weight.is_contiguous(memory_format=torch.channels_last)
        with rt.autocast():
            out = fast_model(rt.images(x))
        assert out.dtype == torch.bfloat16
        # bf16 keeps 8 bits of mantissa: probabilities agree to a few hundredths
        assert (torch.sigmoid(out.float()) - ref).abs().max() < 0.05


def test_decode_cache_serves_items_without_the_files(tiny_root):
    pairs, _, _ = find_pairs(tiny_root)
    cached = SegmentationDataset(pairs, eval_transform(32), cache_size=40)
    plain = SegmentationDataset(pairs, eval_transform(32))
    assert max(cached.cache[0][0].shape[:2]) == 40  # 48x40 image shrunk to longest side 40
    a_img, a_mask, _ = cached[2]
    b_img, b_mask, _ = plain[2]
    assert a_img.shape == b_img.shape and (a_mask == b_mask).float().mean() > 0.9
    for p in (tiny_root / "images").iterdir():
        p.unlink()
    assert cached[5][0].shape == (3, 32, 32)  # no file needed any more


def test_bench_functions_report_sane_numbers(tiny_root):
    t0 = time.perf_counter()
    r = bench_train(
        "unet-small",
        input_size=32,
        batch_size=4,
        precision="bf16",
        steps=2,
        warmup=1,
        data_roots=[tiny_root],
        workers=0,
    )
    wall = time.perf_counter() - t0
    # the 2 timed steps of 4 images happened inside the call: the rate cannot beat the wall
    assert 2 * 4 / r["images_per_s"] <= wall and r["steps"] == 2
    assert 0 <= r["data_wait"] <= 1 and r["precision"] == "bf16"
    assert r["peak_memory_mb"] > 0
    images = [np.zeros((40, 30, 3), np.uint8)] * 4
    t0 = time.perf_counter()
    p = bench_predict(
        "unet-small", input_size=32, batch_size=2, precision="fp32", images=images, repeats=2
    )
    wall = time.perf_counter() - t0
    # warm-up + 2 timed passes over 4 images fit in the call; the best pass is at most half
    assert p["n_images"] == 4 and 0 < p["ms_per_image"] * 4 / 1000 <= wall / 2


def test_conv_bn_folding_keeps_outputs_and_leaves_the_model_alone():
    from personseg.inference.segmenter import fuse_conv_bn

    torch.manual_seed(0)
    model = create_model("unet-small", base_channels=8)
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    model.eval()
    fused = fuse_conv_bn(model)
    x = torch.randn(2, 3, 32, 48)
    with torch.inference_mode():
        assert torch.allclose(fused(x), model(x), atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
