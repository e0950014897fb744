"""The ``fit`` input shape: about S² pixels shaped like the photo, and batches of mixed shapes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from personseg.checkpoint import ModelSpec
from personseg.data.geometry import area_resize, fit_shape
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


def test_area_resize_averages_whole_blocks_first_then_resizes_the_rest():
    """A 12 MP photo to 448x336: first the mean of each 9x9 block (the largest whole factor of
    both sides that stays above the size), then OpenCV's area resize of that."""
    rng = np.random.default_rng(0)
    image = rng.random((3024, 4032), dtype=np.float32)
    blocks = image.reshape(336, 9, 448, 9).mean(axis=(1, 3))
    want = cv2.resize(blocks, (448, 336), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(area_resize(image, (448, 336)), want, atol=1e-5)
    small = rng.random((12, 18), dtype=np.float32)  # 3x3 blocks, then nothing left to do
    np.testing.assert_allclose(
        area_resize(small, (6, 4)), small.reshape(4, 3, 6, 3).mean(axis=(1, 3)), atol=1e-6
    )
    odd = rng.random((97, 101), dtype=np.float32)  # no whole factor: one area resize
    assert np.array_equal(
        area_resize(odd, (40, 30)), cv2.resize(odd, (40, 30), interpolation=cv2.INTER_AREA)
    )
    frame = rng.random((480, 640), dtype=np.float32)  # 2x2 blocks, then 1.25x: bilinear
    halved = frame.reshape(240, 2, 320, 2).mean(axis=(1, 3))
    want = cv2.resize(halved, (256, 192), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(area_resize(frame, (256, 192)), want, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((3024, 4032), (384, 288)),
        ((1080, 1920), (608, 342)),
        ((720, 1280), (384, 216)),
        ((532, 532), (66, 66)),
        ((830, 550), (254, 384)),
        ((481, 643), (287, 215)),
    ],
)
def test_area_resize_in_two_steps_stays_close_to_one_area_resize(shape, size):
    """Shrunk to a model's or the edge filter's size, a texture whose detail spans a few of
    the small picture's pixels comes out of the two-step average as out of OpenCV's one-step
    area resize, within two grey levels on average (a misplaced or stretched one is not)."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (size[1] // 3 + 1, size[0] // 3 + 1)).astype(np.float32)
    image = cv2.resize(noise, shape[::-1], interpolation=cv2.INTER_CUBIC)
    image = np.clip(127 + 40 * image + rng.normal(0, 6, shape), 0, 255).astype(np.uint8)
    got = area_resize(image, size)
    want = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    assert got.shape == want.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).mean() < 2.0
