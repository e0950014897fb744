"""The OpenVINO backend: the same exported ONNX files as ONNX Runtime, the same outputs."""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import openvino  # the dev extra installs it
import pytest
from conftest import write_root

from personseg.checkpoint import Checkpoint, ModelSpec, bundled_checkpoint
from personseg.cli import build_parser, main
from personseg.doctor import check_openvino
from personseg.export import model_for_backend
from personseg.export.onnx import export_model
from personseg.inference.onnx_runner import OrtRunner
from personseg.inference.openvino_runner import OpenVinoRunner
from personseg.inference.segmenter import Segmenter
from personseg.models import create_model

SPEC = ModelSpec("unet-small", {"base_channels": 4}, input_size=32)


@pytest.fixture(scope="module", autouse=True)
def _free_at_the_end():
    """This module's OpenVINO models freed when it ends, not at a random later point."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random model: its ``.pt`` and its fp32 ``.onnx`` (exported and checked once)."""
    import torch

    tmp = tmp_path_factory.mktemp("openvino")
    torch.manual_seed(0)
    model = create_model(SPEC.name, **SPEC.kwargs).eval()
    Checkpoint(SPEC, model.state_dict()).save(tmp / "m.pt")
    export_model(model, SPEC, tmp / "m.onnx")
    return tmp / "m.pt", tmp / "m.onnx"


def batches():
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 32, 32), (1, 3, 48, 80), (2, 3, 64, 32), (1, 3, 160, 96)]:
        yield rng.standard_normal(shape).astype(np.float32)


def test_logits_equal_onnxruntime_on_every_input_shape(tiny):
    ov, ort = OpenVinoRunner(tiny[1]), OrtRunner(tiny[1])
    assert ov.spec == ort.spec == SPEC  # the metadata read from the model's runtime info
    for x in batches():
        a, b = ov(x), ort(x)
        assert a.shape == b.shape == (x.shape[0], 1, *x.shape[2:])
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


def test_a_shape_seen_often_gets_its_own_model_with_the_same_logits(tiny):
    runner, ort = OpenVinoRunner(tiny[1]), OrtRunner(tiny[1])
    runner.static_after = 3
    x, other = list(batches())[1:3]
    for _ in range(2):
        runner(x)
    assert not runner.static  # twice: still on the dynamic-shape model
    out = runner(x)
    assert list(runner.static) == [x.shape]
    np.testing.assert_allclose(out, ort(x), atol=1e-4, rtol=0)
    np.testing.assert_allclose(runner(x), out, atol=1e-6, rtol=0)  # now from its own model
    np.testing.assert_allclose(runner(other), ort(other), atol=1e-4, rtol=0)  # others: dynamic


def test_segmenter_on_openvino_predicts_like_onnxruntime(tiny):
    ov = Segmenter.load(tiny[1], backend="openvino")
    ort = Segmenter.load(tiny[1], backend="onnx")
    assert ov.backend == "openvino-cpu" and ort.backend == "onnxruntime"
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, s, dtype=np.uint8) for s in [(50, 70, 3), (90, 30, 3)]]
    for a, b in zip(ov.predict_batch(images), ort.predict_batch(images), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4
    with pytest.raises(ValueError, match="runs on the CPU"):
        Segmenter.load(tiny[1], backend="openvino", device="cuda")


def test_a_checkpoint_is_exported_first_for_openvino(tiny, tmp_path):
    pt = tmp_path / "m.pt"
    shutil.copy(tiny[0], pt)
    with pytest.raises(ValueError, match="export it first"):
        Segmenter.load(pt, backend="openvino")
    path = model_for_backend(pt, "openvino")
    assert path == tmp_path / "m.onnx" and path.is_file()  # fp32, beside the checkpoint
    assert Segmenter.load(path, backend="openvino").backend == "openvino-cpu"
    assert model_for_backend("default", "openvino") == "default"  # the bundled int8 file
    with pytest.raises(ValueError, match="is an ONNX model: use --backend onnx, openvino"):
        Segmenter.load(path, backend="torch")


def test_missing_openvino_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    with pytest.raises(ValueError) as err:
        Segmenter.load("default", backend="openvino")
    assert str(err.value) == "OpenVINO is not installed: pip install 'personseg[openvino]'"
    check = check_openvino()
    assert check.status == "INFO" and "pip install 'personseg[openvino]'" in check.detail


def test_doctor_runs_the_bundled_model_on_openvino():
    check = check_openvino()
    assert check.status == "OK", check.line()
    assert check.detail.startswith(openvino.get_version().split("-")[0])


@pytest.mark.parametrize("command", ["predict", "evaluate", "video", "webcam", "serve", "demo"])
def test_every_backend_flag_takes_openvino(command):
    args = {"predict": ["x.jpg"], "video": ["in.mp4", "--out", "o"], "evaluate": ["--data", "d"]}
    ns = build_parser().parse_args([command, *args.get(command, []), "--backend", "openvino"])
    assert ns.backend == "openvino"
    bench = build_parser().parse_args(["bench", "predict", "--backend", "openvino"])
    assert bench.backend == "openvino"


def test_cli_predict_with_openvino_backend(tiny, tmp_path):
    root = write_root(tmp_path / "data", n=2)
    out = tmp_path / "p"
    args = ["predict", str(root / "images"), "--model", str(tiny[1]), "--out", str(out)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*args, "--backend", "openvino"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["im000_mask.png", "im001_mask.png"]


@pytest.mark.slow  # exports the default model (about 20 s)
@pytest.mark.realdata
def test_bundled_model_on_openvino_agrees_with_torch_on_real_photos(shared_data, tmp_path):
    """On the first val photos of ccp: the bundled int8 file on OpenVINO as on ONNX Runtime,
    and a checkpoint (the bundled ``.pt``, exported fp32 first) on OpenVINO as on PyTorch."""
    root = shared_data / "ccp"
    photos = [root / "images" / f"{s}.jpg" for s in (root / "val.txt").read_text().split()[:6]]
    shutil.copy(bundled_checkpoint(), tmp_path / "default.pt")
    segs = {
        "torch": Segmenter.load("default", "torch", precision="fp32"),
        "int8 openvino": Segmenter.load("default", "openvino"),
        "int8 onnxruntime": Segmenter.load("default", "onnx"),
        "fp32 openvino": Segmenter.load(
            model_for_backend(tmp_path / "default.pt", "openvino"), "openvino"
        ),
    }
    masks = {k: [seg.predict(p) > seg.threshold for p in photos] for k, seg in segs.items()}

    def iou(a: str, b: str) -> float:
        pairs = list(zip(masks[a], masks[b], strict=True))
        return sum((x & y).sum() for x, y in pairs) / sum((x | y).sum() for x, y in pairs)

    assert iou("fp32 openvino", "torch") >= 0.995
    # int8 kernels on x86 CPUs without VNNI multiply u8 × s8 pairs into saturating 16-bit sums
    # (measured 2026-12-07 on such an AMD EPYC: int8 vs fp32 mask IoU 0.974 on OpenVINO, 0.971
    # on ONNX Runtime, 0.985 between the two; with VNNI 0.99+ and 0.995+)
    vnni = any(f in Path("/proc/cpuinfo").read_text() for f in ("avx512_vnni", "avx_vnni"))
    assert iou("int8 openvino", "int8 onnxruntime") >= (0.995 if vnni else 0.98)
    # the int8 file's own quantization error against PyTorch fp32 (ONNX Runtime: about 0.995)
    assert iou("int8 openvino", "torch") >= (0.99 if vnni else 0.97)


def test_bench_predict_runs_on_openvino(monkeypatch):
    from personseg import bench

    loaded = []
    load = Segmenter.load.__func__

    def spy(cls, model, backend="auto", *args, **kwargs):
        seg = load(cls, model, backend, *args, **kwargs)
        loaded.append(seg.backend)
        return seg

    monkeypatch.setattr(bench.Segmenter, "load", classmethod(spy))
    images = [np.zeros((40, 30, 3), np.uint8)] * 2
    r = bench.bench_predict("unet-small", 32, 2, backend="openvino", images=images, repeats=1)
    assert r["backend"] == "openvino" and r["ms_per_image"] > 0
    assert loaded[-1] == "openvino-cpu"  # (the export's parity check runs ONNX Runtime)
