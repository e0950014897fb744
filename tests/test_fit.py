"""The ``fit`` input shape: about S² pixels shaped like the photo, and batches of mixed shapes."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from personseg.checkpoint import ModelSpec
from personseg.data.geometry import fit_shape
from personseg.inference import Segmenter
from personseg.models import create_model


def _spec(size: int) -> ModelSpec:
    return ModelSpec("unet-small", input_size=size, resize="fit", mean=(0.5,) * 3, std=(0.25,) * 3)


@given(st.integers(16, 3000), st.integers(16, 3000), st.sampled_from([128, 256, 320]))
def test_fit_shape_is_a_valid_input_with_more_picture_than_the_square(h, w, size):
    rows, cols = fit_shape(h, w, size)
    assert rows % 32 == 0 and cols % 32 == 0
    assert rows * cols <= 1.1 * size * size
    # the picture is at least as large as in a size x size letterbox
    assert min(rows / h, cols / w) >= size / max(h, w) - 1e-9


def test_portrait_photo_gets_a_tall_input():
    assert fit_shape(830, 550, 256) == (320, 224)
    assert fit_shape(500, 500, 256) == (256, 256)


def test_fit_batches_of_mixed_shapes_equal_one_by_one():
    torch.manual_seed(0)
    model = create_model("unet-small", base_channels=4)
    seg = Segmenter(model, _spec(64), precision="fp32")
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, shape, dtype=np.uint8)
        for shape in [(90, 60, 3), (60, 90, 3), (90, 60, 3), (70, 70, 3)]
    ]
    batch = seg.predict_batch(images)
    assert [p.shape for p in batch] == [im.shape[:2] for im in images]
    for image, prob in zip(images, batch, strict=True):
        np.testing.assert_allclose(seg.predict(image), prob, atol=1e-5)


def test_fit_never_enlarges_a_photo_past_its_own_pixel_count():
    model = create_model("unet-small", base_channels=4)
    seg = Segmenter(model, _spec(384), precision="fp32")
    small = np.zeros((256, 256, 3), np.uint8)
    _, h, w = seg.prepare(small)[0].shape
    assert 256**2 <= h * w <= 1.1 * 256**2  # not 384×384: no made-up pixels
    assert h % 16 == 0 and w % 16 == 0  # unet-small's own divisor, not another model's
    large = np.zeros((830, 550, 3), np.uint8)
    _, h, w = seg.prepare(large)[0].shape
    assert h > w and 0.9 * 384**2 <= h * w <= 1.1 * 384**2
    tiny = np.zeros((40, 60, 3), np.uint8)
    _, h, w = seg.prepare(tiny)[0].shape
    assert 0.5 * 128**2 <= h * w <= 1.1 * 128**2  # floor: tiny photos still get a usable input
    seg.enlarge = True  # opt in: every photo at about S² pixels
    _, h, w = seg.prepare(small)[0].shape
    assert h * w >= 0.9 * 384**2
