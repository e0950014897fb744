import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import TINY_TRAIN, run

import personseg
from personseg import Segmenter
from personseg.cli import main
from personseg.export import ParityError, export_onnx


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from conftest import write_root

    tmp = tmp_path_factory.mktemp("export")
    root = write_root(tmp / "data")
    run("train", "--data", str(root), *TINY_TRAIN, "--epochs", "1", "--out", str(tmp / "run"))
    return tmp / "run" / "best.pt"


@pytest.fixture(scope="module")
def exported(tiny_ckpt, tmp_path_factory):
    """The tiny checkpoint exported once by `personseg export` (the exporter takes seconds,
    so in this process): what it printed, and the file."""
    out = tmp_path_factory.mktemp("onnx") / "m.onnx"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["export", "--model", str(tiny_ckpt), "--out", str(out)]) == 0
    return buf.getvalue(), out


def test_export_matches_pytorch_on_any_size_and_batch(tiny_ckpt, exported):
    printed, out = exported
    assert f"wrote {out}" in printed and "parity with PyTorch" in printed
    meta = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["personseg"])
    spec = meta["spec"]  # the checkpoint's ModelSpec, as it is
    assert spec["input_size"] == 32 and spec["name"] == "unet-small" and spec["divisor"] == 16
    assert spec["mean"] == [0.485, 0.456, 0.406] and spec["threshold"] == 0.5
    assert onnx.load(str(out)).opset_import[0].version >= 17
    # no path of the exporting machine inside (the exporter records Python stack traces)
    package_dir = str(Path(personseg.__file__).parent).encode()
    assert package_dir not in out.read_bytes()

    ref = Segmenter.from_checkpoint(tiny_ckpt, device="cpu", precision="fp32")
    ort = Segmenter.from_checkpoint(out)
    assert ort.backend == "onnxruntime"
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, s, dtype=np.uint8) for s in [(50, 70, 3), (90, 30, 3)]]
    for a, b in zip(ref.predict_batch(images), ort.predict_batch(images), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4
    # the graph itself takes other batch sizes and input sizes (multiples of 16)
    batch = rng.standard_normal((3, 3, 48, 80)).astype(np.float32)
    assert ort.model(batch).shape == (3, 1, 48, 80)


def test_failed_parity_leaves_no_file(tiny_ckpt, tmp_path):
    out = tmp_path / "m.onnx"
    with pytest.raises(ParityError, match="differs from PyTorch"):
        export_onnx(tiny_ckpt, out, atol=-1.0)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_foreign_onnx_files_are_refused(tmp_path, backend):
    if backend == "openvino":
        pytest.importorskip("openvino")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        Segmenter.load(tmp_path / "junk.onnx", backend)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    onnx.save(onnx.helper.make_model(graph), str(tmp_path / "plain.onnx"))
    with pytest.raises(ValueError, match="not exported by `personseg export`"):
        Segmenter.load(tmp_path / "plain.onnx", backend)
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        Segmenter.load(tmp_path / "missing.onnx", backend)


def test_cli_predict_with_onnx_backend(tiny_ckpt, tmp_path):
    image = tiny_ckpt.parent.parent / "data" / "images" / "im000.jpg"
    run(
        "predict",
        str(image),
        "--model",
        str(tiny_ckpt),
        "--backend",
        "onnx",
        "--out",
        str(tmp_path / "p"),
    )
    assert (tiny_ckpt.parent / "best.onnx").is_file()  # exported beside the checkpoint
    assert (tmp_path / "p" / "im000_mask.png").is_file()


def test_int8_quantization_keeps_metadata_and_reports_agreement(tiny_ckpt, exported, tmp_path):
    from personseg.export import quantize_onnx

    shutil.copy(exported[1], tmp_path / "fp32.onnx")
    calibration = sorted((tiny_ckpt.parent.parent / "data" / "images").iterdir())[:6]
    report = quantize_onnx(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", calibration)
    assert report["n_calibration"] == 6
    int8 = Segmenter.from_checkpoint(tmp_path / "int8.onnx")  # metadata survived
    assert int8.input_size == 32
    # the reported agreement is the pooled mask IoU of the two networks, recomputed here
    fp32 = Segmenter.from_checkpoint(tmp_path / "fp32.onnx")
    fp32.refine = int8.refine = "none"
    a = np.stack([fp32.predict(p) > 0.5 for p in calibration])
    b = np.stack([int8.predict(p) > 0.5 for p in calibration])
    assert report["int8_mask_iou"] == pytest.approx((a & b).sum() / (a | b).sum(), abs=1e-9)
    assert "QuantizeLinear" in {
        n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node
    }
    assert int8.predict(calibration[0]).shape == (48, 40)
    with pytest.raises(ValueError, match="calibration images"):
        quantize_onnx(tmp_path / "fp32.onnx", tmp_path / "none.onnx", [])


def test_missing_onnx_extra_is_one_clear_error(tiny_ckpt, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # as if not installed
    with pytest.raises(ValueError, match=r"pip install 'personseg\[onnx\]'"):
        export_onnx(tiny_ckpt, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_slim_pt_export_sets_prediction_shape_and_predicts_alike(tiny_ckpt, tmp_path):
    out = tmp_path / "slim.pt"
    proc = run(
        "export",
        "--model",
        str(tiny_ckpt),
        "--out",
        str(out),
        "--resize",
        "fit",
        "--input-size",
        "128",
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size < tiny_ckpt.stat().st_size  # no optimizer state
    slim = Segmenter.from_checkpoint(out, device="cpu", precision="fp32")
    full = Segmenter.from_checkpoint(tiny_ckpt, device="cpu", precision="fp32")
    assert (slim.input_size, slim.resize) == (128, "fit") and full.input_size == 32
    # a 3:2 portrait gets a tall input of about 128² pixels
    image = np.random.default_rng(0).integers(0, 255, (192, 128, 3), dtype=np.uint8)
    _, h, w = slim.prepare(image)[0].shape
    assert h > w and 0.5 * 128**2 <= h * w <= 1.1 * 128**2
    full.input_size, full.resize = 128, "fit"
    assert np.abs(slim.predict(image) - full.predict(image)).max() < 1e-2  # float16 weights
    bad = run(
        "export", "--model", str(tiny_ckpt), "--out", str(out), "--input-size", "50", check=False
    )
    assert bad.returncode != 0 and "multiple of 16 for unet-small" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_onnx_export_refuses_prediction_shape_options(tiny_ckpt, tmp_path):
    # an ONNX model takes its resize and input size from the checkpoint: say so, don't ignore
    out = tmp_path / "m.onnx"
    bad = run(
        "export", "--model", str(tiny_ckpt), "--out", str(out), "--input-size", "64", check=False
    )
    assert bad.returncode != 0 and "apply to a .pt export only" in bad.stderr
    assert "Traceback" not in bad.stderr and not out.exists()


@pytest.mark.parametrize(
    "out, extra, message",
    [
        ("m.pth", [], "name it .onnx (ONNX Runtime) or .pt"),
        ("folder/", [], "is a folder: name the file"),
        ("q.onnx", ["--quantize", "int8"], "needs calibration photos: pass --check-images"),
        ("q.pt", ["--quantize", "int8"], "apply to an .onnx export only"),
        ("SELF", [], "is the checkpoint being exported"),
    ],
)
def test_export_refuses_outputs_nothing_would_load_before_any_work(
    tiny_ckpt, tmp_path, capsys, out, extra, message
):
    source = tmp_path / "run.pt"
    shutil.copy(tiny_ckpt, source)
    target = str(source) if out == "SELF" else f"{tmp_path}/{out}"  # keeps a trailing /
    assert main(["export", "--model", str(source), "--out", target, *extra]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # nothing written
    assert source.read_bytes() == Path(tiny_ckpt).read_bytes()
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"onnx")
    assert main(["export", "--model", str(onnx_file), "--out", str(tmp_path / "b.pt")]) == 2
    assert "already an ONNX model" in capsys.readouterr().err


def test_export_needs_twice_the_size_divisor(tmp_path):
    from personseg.checkpoint import ModelSpec
    from personseg.export.onnx import export_model
    from personseg.models import create_model

    spec = ModelSpec("unet-small", {"base_channels": 4}, input_size=16)  # a model may take 16
    with pytest.raises(ValueError, match="at least 32 for unet-small"):
        export_model(create_model("unet-small", base_channels=4), spec, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_checkpoints_in_read_only_folders_get_their_own_cached_onnx(tmp_path, monkeypatch):
    """Two runs' best.pt, neither folder writable: each exports to its own cache file, so one
    never serves the other's model."""
    import personseg.export.onnx as onnx_export

    exported = []

    def fake_export(ckpt, out):
        exported.append(Path(ckpt))
        Path(out).write_text(str(ckpt))

    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(onnx_export.os, "access", lambda *a: False)
    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    runs = [tmp_path / "a" / "best.pt", tmp_path / "b" / "best.pt"]
    for ckpt in runs:
        ckpt.parent.mkdir()
        ckpt.write_bytes(b"weights")
    first, second = (onnx_export.onnx_for_checkpoint(c) for c in runs)
    assert first != second and first.parent == second.parent == tmp_path / "cache"
    assert first.read_text() == str(runs[0]) and second.read_text() == str(runs[1])
    assert onnx_export.onnx_for_checkpoint(runs[0]) == first and len(exported) == 2  # reused


def test_onnx_runtime_runs_where_device_says():
    from personseg.inference.onnx_runner import execution_providers

    cpu, gpu = ["CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers("cpu", gpu) == cpu  # --device cpu never uses the GPU
    assert execution_providers("auto", gpu)[0] == "CUDAExecutionProvider"
    assert execution_providers("auto", cpu) == cpu
    assert execution_providers("cuda:1", gpu)[0] == ("CUDAExecutionProvider", {"device_id": 1})
    with pytest.raises(ValueError, match="no CUDA support"):
        execution_providers("cuda", cpu)
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        execution_providers("gpu", gpu)
    seg = Segmenter.load("default", "onnx", "cpu")
    assert seg.model.session.get_providers() == cpu
