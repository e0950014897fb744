"""The fast network (fastseg), its stride-4 logits through prediction and export, and the
pseudo-labels it is trained on."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from personseg import Segmenter, create_model
from personseg.checkpoint import ModelSpec
from personseg.data.geometry import unletterbox
from personseg.inference.pseudo import PseudoRule, pseudo_label, pseudo_label_root, read_boxes


def features(model, x: torch.Tensor) -> list[torch.Tensor]:
    """The encoder's maps at strides 2, 4, 8 and 16 (the last block of each stride)."""
    y, out = model.stem(x), []
    for block in model.blocks:
        if block._depthwise_conv.stride[0] == 2:
            out.append(y)
        y = block(y)
    return [*out, y]


def test_fastseg_is_thin_at_high_resolution_and_ends_at_stride_4():
    model = create_model("fastseg").eval()
    s2, s4, s8, s16 = features(model, torch.zeros(1, 3, 64, 96))
    # the shape: 16 channels at stride 2, <= 24 at stride 4, multiples of 8 (the
    # stride-4 block's 1x1 expansion runs at stride 2, as in every inverted residual)
    assert s2.shape[1:] == (16, 32, 48) and s4.shape[1:] == (24, 16, 24)
    assert s8.shape[1:] == (40, 8, 12) and s16.shape[1:] == (112, 4, 6)
    assert model.blocks[1]._expand_conv.out_channels <= 32
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs if c is not model.logits)
    assert not [m for m in model.modules() if isinstance(m, torch.nn.Hardswish)]
    with torch.no_grad():
        full = model(torch.randn(2, 3, 64, 96))
        model.upsample = False
        small = model(torch.randn(2, 3, 64, 96))
    assert full.shape == (2, 1, 64, 96) and small.shape == (2, 1, 16, 24)
    with pytest.raises(ValueError, match="64x96"):
        model(torch.zeros(1, 3, 50, 90))


def test_slimmed_lite0_keeps_the_channels_with_the_largest_batch_norm_scale():
    """A made-up Lite0 state: the stem keeps its 16 largest-|scale| filters, each expansion its
    largest channels, and the next layers take exactly those channels' weights."""
    from personseg.models.efficientnet import EfficientNetLite0
    from personseg.models.fastseg import slimmed_lite0

    torch.manual_seed(0)
    state = {k: torch.randn_like(v.float()) for k, v in EfficientNetLite0().state_dict().items()}
    model = create_model("fastseg")
    cut = slimmed_lite0(state)
    missing, unexpected = model.load_state_dict(cut, strict=False)
    assert not unexpected and {k.split(".")[0] for k in missing} == {"head", "up8", "up4", "logits"}
    keep = state["_bn0.weight"].abs().topk(16).indices.sort().values
    assert torch.equal(model.stem[0].weight, state["_conv_stem.weight"][keep])
    assert torch.equal(
        model.blocks[0]._depthwise_conv.weight, state["_blocks.0._depthwise_conv.weight"][keep]
    )
    assert torch.equal(
        model.blocks[0]._project_conv.weight, state["_blocks.0._project_conv.weight"][:, keep]
    )
    mid = state["_blocks.1._bn0.weight"].abs().topk(32).indices.sort().values
    w = state["_blocks.1._expand_conv.weight"][mid][:, :16]  # block 0 keeps all 16 outputs
    assert torch.equal(model.blocks[1]._expand_conv.weight, w)
    assert torch.equal(model.blocks[1]._bn0.running_var, state["_blocks.1._bn0.running_var"][mid])
    # the smallest-scale channel of the stem is one of those left out
    assert state["_bn0.weight"].abs().argmin() not in keep


def test_unletterbox_at_a_stride_samples_where_torch_interpolate_would():
    # bilinear interpolation is exact on a linear ramp, so one warp from the stride-4 map must
    # equal torch's upsampling to the input followed by the stride-1 crop and resize
    yy, xx = np.mgrid[0:16, 0:20].astype(np.float32)
    small = 0.3 * xx + 0.7 * yy
    full = F.interpolate(torch.from_numpy(small)[None, None], size=(64, 80), mode="bilinear")
    box = (8, 8, 48, 64)
    for shape in [(100, 140), (37, 53), (48, 64)]:
        want = unletterbox(full[0, 0].numpy(), box, shape)
        got = unletterbox(small, box, shape, stride=4)
        assert got.shape == shape
        assert np.abs(want - got)[3:-3, 3:-3].max() < 1e-4  # borders: clamped differently


@pytest.fixture(scope="module")
def fast_spec():
    return ModelSpec("fastseg", {"head_channels": 16}, input_size=64, resize="fit")


def test_segmenter_maps_stride_4_logits_back_like_full_size_ones(fast_spec):
    torch.manual_seed(0)
    model = create_model("fastseg", head_channels=16).eval()
    with torch.no_grad():  # random BN statistics, so that the map is not flat
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2)
    lean = Segmenter(model, fast_spec, device="cpu", precision="fp32", refine="none")
    assert model.upsample  # the caller's module is left as it was
    plain = Segmenter(
        model, fast_spec, device="cpu", precision="fp32", refine="none", optimize=False
    )
    plain.model.upsample = True  # the full-size logits, mapped back at stride 1
    image = np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)
    a, b = lean.predict(image), plain.predict(image)
    assert a.shape == b.shape == (90, 130)
    assert np.abs(a - b).max() < 0.05 and np.abs(a - b).mean() < 0.01


def test_fastseg_exports_its_stride_4_logits_with_parity(fast_spec, tmp_path):
    pytest.importorskip("onnxruntime")
    from personseg.export.onnx import export_model

    model = create_model("fastseg", head_channels=16)
    report = export_model(model, fast_spec, tmp_path / "fast.onnx")
    assert report["max_abs_diff"] <= 1e-4 and report["mask_iou"] >= 0.999
    ort = Segmenter.load(tmp_path / "fast.onnx", backend="onnx")
    batch = np.zeros((1, 3, 64, 96), np.float32)
    assert ort.model(batch).shape == (1, 1, 16, 24)
    assert model.upsample  # exporting did not change the module


def test_pseudo_label_rule():
    prob = np.zeros((40, 60), np.float32)
    prob[5:25, 5:15] = 0.9  # a person inside box 1
    prob[30:36, 50:56] = 0.8  # a person outside every box
    boxes = [(4, 4, 16, 26), (30, 5, 45, 30)]  # box 2: the model marks nothing there
    mask, ignore, *_ = pseudo_label(prob, boxes, PseudoRule(margin=2))
    assert (mask[5:25, 5:15] == 255).all() and mask.sum() == 255 * 200
    assert (ignore[5:30, 30:45] == 255).all()  # the missed box counts neither way
    assert (ignore[28:38, 48:58] == 255).all()  # the stray person, widened by the margin
    assert ignore[0:3, 0:3].max() == 0 and mask[30:36, 50:56].max() == 0
    assert not (mask & ignore).any()


def test_read_boxes_takes_boxes_and_polygons_and_names_a_bad_line(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("0 0.5 0.5 0.5 0.25\n1 0.1 0.2 0.3 0.2 0.2 0.6\n\n")
    assert read_boxes(f, (100, 200), None) == [(50, 38, 150, 62), (20, 20, 60, 60)]
    assert read_boxes(f, (100, 200), 1) == [(20, 20, 60, 60)]
    f.write_text("0 0.5 0.5\n")
    with pytest.raises(ValueError, match="line 1"):
        read_boxes(f, (100, 200), None)


def test_pseudo_label_root_writes_a_trainable_root_of_its_split(fast_spec, tmp_path):
    import cv2

    from personseg.data.splits import load_root

    src = tmp_path / "boxes"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    rng = np.random.default_rng(0)
    for stem in ("a", "b", "c"):
        cv2.imwrite(str(src / "images" / f"{stem}.jpg"), rng.integers(0, 255, (48, 64, 3)))
        (src / "labels" / f"{stem}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (src / "train.txt").write_text("a\nb\n")
    (src / "val.txt").write_text("c\n")
    seg = Segmenter(create_model("fastseg", head_channels=16), fast_spec, device="cpu")
    counts = pseudo_label_root(src, tmp_path / "out", seg)
    assert counts["photos"] == 2 and counts["boxes"] == 2
    assert (tmp_path / "out" / "train.txt").read_text() == "a\nb\n"
    assert not (tmp_path / "out" / "val.txt").exists()
    samples = load_root(tmp_path / "out")
    assert [s.stem for s in samples] == ["a", "b"] and all(s.ignore for s in samples)
