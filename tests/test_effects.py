"""Photo effects: shapes, transparency, no halo at the seam, background cover, edge refinement."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from personseg.checkpoint import ModelSpec
from personseg.data.dataset import Sample
from personseg.inference import Segmenter, evaluate_samples
from personseg.inference.effects import (
    alpha_matte,
    apply_effect,
    binary_mask,
    blur_background,
    cover,
    cutout,
    guided_filter,
    parse_color,
    refine_edge,
    replace_background,
)
from personseg.metrics import iou_score

RED, BLUE = (230, 20, 20), (20, 20, 230)


def person_on_blue(h: int = 120, w: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """A red block (the 'person') on a blue background, and its hard alpha."""
    image = np.empty((h, w, 3), np.uint8)
    image[:] = BLUE
    alpha = np.zeros((h, w), np.float32)
    alpha[30:90, 25:60] = 1
    image[alpha > 0] = RED
    return image, alpha


def test_cutout_is_rgba_of_the_image_size_with_alpha_from_the_matte():
    image, alpha = person_on_blue()
    rgba = cutout(image, alpha)
    assert rgba.shape == (*image.shape[:2], 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3][alpha == 1] == 255).all() and (rgba[..., 3][alpha == 0] == 0).all()
    assert np.array_equal(rgba[..., :3], image)


def test_blur_keeps_the_person_and_does_not_bleed_it_into_the_background():
    image, alpha = person_on_blue()
    out = blur_background(image, alpha, strength=60)
    assert np.array_equal(out[alpha == 1], image[alpha == 1])
    # A plain Gaussian blur would tint the background next to the person red (a halo).
    ring = np.zeros_like(alpha, bool)
    ring[26:94, 21:64] = True
    ring &= alpha == 0
    assert out[ring][:, 0].max() <= BLUE[0] + 2


def test_blur_changes_a_textured_background():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
    alpha = np.zeros((80, 80), np.float32)
    out = blur_background(image, alpha, strength=20)
    assert out.std() < image.std() / 2


def normalised_blur(image: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """The background blur written out in float at full size: the image weighted by the
    background, blurred, divided by the blurred weight, then blended under the person."""
    weight = 1.0 - alpha.astype(np.float64)
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    plain = cv2.GaussianBlur(image.astype(np.float64), (0, 0), sigma)
    blurred = np.where(den > 1e-3, num / np.maximum(den, 1e-3), plain)
    a = alpha[..., None].astype(np.float64)
    return a * image + (1 - a) * np.clip(blurred, 0, 255)


@pytest.mark.parametrize("shape", [(720, 1280), (721, 1281)])  # a whole factor of 4, or not
def test_a_wide_blur_computed_on_a_smaller_copy_looks_like_the_full_size_one(shape):
    """1280x720 at the default strength is blurred at a quarter of its size, in uint8 where it
    can be; against the same blur written out in float at full size the picture hardly
    changes."""
    h, w = shape
    rng = np.random.default_rng(3)
    image = cv2.resize(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (w, h))
    alpha = np.zeros((h, w), np.float32)
    cv2.circle(alpha, (640, 360), 200, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 3)
    alpha[alpha > 0.999] = 1.0  # the person's inside, kept as it is
    assert (alpha == 1).sum() > 100_000
    fast = blur_background(image, alpha).astype(int)
    full = normalised_blur(image, alpha, 15 * w / 1000)
    diff = np.abs(fast - full)
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3
    assert np.array_equal(fast[alpha == 1], image[alpha == 1])


def test_composite_is_the_alpha_blend_for_any_array_layout():
    """One OpenCV pass; strided views and a float64 alpha work, within a grey level of the
    formula."""
    from personseg.inference.effects import composite

    rng = np.random.default_rng(5)
    wide = rng.integers(0, 255, (40, 120, 3), dtype=np.uint8)
    image, background = wide[:, ::2], wide[:, 1::2]  # not contiguous
    alpha = rng.random((40, 60))  # float64
    expected = alpha[..., None] * image + (1 - alpha[..., None]) * background
    out = composite(image, background, alpha)
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    assert np.abs(out - expected).max() <= 1.0


def test_replace_with_a_colour_and_with_an_image_of_another_aspect():
    image, alpha = person_on_blue()
    out = replace_background(image, alpha, parse_color("#00ff00"))
    assert (out[alpha == 0] == (0, 255, 0)).all()
    assert np.array_equal(out[alpha == 1], image[alpha == 1])
    wide = np.zeros((50, 400, 3), np.uint8)
    wide[:, 200:] = 255  # right half white: the centre crop shows both halves
    out = replace_background(image, alpha, wide)
    assert out.shape == image.shape
    bg = out[alpha == 0]
    assert (bg < 10).any() and (bg > 245).any()


def test_cover_fills_the_frame_and_keeps_the_aspect():
    bg = np.zeros((100, 200, 3), np.uint8)
    bg[:, ::2] = 255  # vertical stripes 1 px wide stay 1 px wide if not stretched
    out = cover(bg, (100, 50))
    assert out.shape == (100, 50, 3)
    assert np.array_equal(out[0, :4, 0] > 0, out[0, 4:8, 0] > 0)


def test_cover_scales_only_the_part_that_shows():
    """A thin strip behind a large frame: its centre is cropped, then scaled (not the whole
    strip scaled up to 750 × 30,000,000 pixels first, 67 GB)."""
    strip = np.zeros((1, 40000, 3), np.uint8)
    strip[0, 19999] = 255  # its middle pixel is white: at 750× it covers the whole frame
    out = cover(strip, (750, 1000))
    assert out.shape == (750, 1000, 3) and (out == 255).all()
    tall = np.arange(300, dtype=np.uint8)[:, None, None].repeat(10, 1).repeat(3, 2)
    out = cover(tall, (10, 10))  # the middle 10 rows of 300, one to one
    assert np.array_equal(out[:, 0, 0], np.arange(145, 155))


def test_replace_takes_a_colour_text_a_file_and_a_grey_image(tmp_path):
    image, alpha = person_on_blue()
    out = apply_effect(image, alpha, "replace", background="#00ff00")
    assert (out[alpha == 0] == (0, 255, 0)).all()
    grey = np.full((30, 40), 77, np.uint8)
    assert (apply_effect(image, alpha, "replace", background=grey)[alpha == 0] == 77).all()
    cv2.imwrite(str(tmp_path / "bg.png"), np.full((30, 40, 3), (0, 0, 200), np.uint8))  # BGR
    out = apply_effect(image, alpha, "replace", background=tmp_path / "bg.png")
    assert (out[alpha == 0] == (200, 0, 0)).all()


@pytest.mark.parametrize("bad", ["red", "#12345", "#GG0000"])
def test_bad_colours_are_refused(bad):
    with pytest.raises(ValueError, match="#RRGGBB"):
        parse_color(bad)


def test_guided_filter_moves_a_blurry_edge_onto_the_image_edge():
    """The model's edge is 4 px off and soft; the image edge is sharp at x = 40."""
    w = 80
    guide = np.zeros((20, w), np.float32)
    guide[:, 40:] = 1.0
    x = np.arange(w, dtype=np.float32)
    prob = np.tile(1 / (1 + np.exp(-(x - 44) / 3)), (20, 1)).astype(np.float32)
    refined = guided_filter(guide, prob, radius=6, eps=1e-3)

    def crossing(p: np.ndarray) -> int:
        return int(np.argmax(p[10] > 0.5))

    assert abs(crossing(refined) - 40) < abs(crossing(prob) - 40)
    # the fast form: fitted at half the size, it moves the edge as well
    fast = guided_filter(guide, prob, radius=3, eps=1e-3, size=w // 2)
    assert abs(crossing(fast) - 40) < abs(crossing(prob) - 40)
    # and at or above the image's own size it is the plain filter
    assert np.array_equal(guided_filter(guide, prob, 6, 1e-3, size=w), refined)


def test_refine_edge_takes_the_map_at_the_size_it_filters_at():
    """A map at guide_shape of the photo gives the edge a full-size map gives (the filter
    would shrink it to that size first), and any other size is refused."""
    from personseg.data.geometry import area_resize
    from personseg.inference.effects import guide_shape

    image, alpha = person_on_blue(480, 640)
    prob = cv2.GaussianBlur(alpha, (0, 0), 6)
    small = guide_shape(image.shape[:2])
    assert small == (288, 384)  # 384 on the long side
    shrunk = area_resize(prob, small[::-1])  # as the filter shrinks it
    a, b = refine_edge(image, prob), refine_edge(image, shrunk)
    assert a.shape == b.shape == (480, 640) and np.abs(a - b).max() < 1e-5
    with pytest.raises(ValueError, match="does not match"):
        refine_edge(image, prob[:100])
    with pytest.raises(ValueError, match="does not match"):
        refine_edge(image, shrunk, "none")


def test_soft_effects_follow_the_threshold_like_the_mask():
    """The soft edge is centred on the threshold: pixels the mask keeps are at least half
    opaque, those it drops at most half, whatever the threshold; cut-out, replace and blur
    all use it."""
    rng = np.random.default_rng(0)
    image = np.full((8, 32, 3), 200, np.uint8)
    prob = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (8, 1))
    black = np.zeros_like(image)
    textured = rng.integers(0, 256, image.shape, dtype=np.uint8)
    blurred = []
    for t in (0.3, 0.5, 0.7):
        alpha = alpha_matte(image, prob, threshold=t)
        kept = binary_mask(prob, t) > 0
        assert (alpha[kept] >= 0.5).all() and (alpha[~kept] <= 0.5).all()
        assert alpha[prob < t - 0.2].max() == 0 and alpha[prob > t + 0.2].min() == 1
        assert np.allclose(apply_effect(image, prob, "cutout", t)[..., 3] / 255, alpha, atol=0.01)
        replaced = apply_effect(image, prob, "replace", t, background=black)
        assert np.allclose(replaced[..., 0] / 200, alpha, atol=0.01)
        blurred.append(apply_effect(textured, prob, "blur", t, blur=3))
    assert not np.array_equal(blurred[0], blurred[2])


def test_alpha_matte_is_soft_only_near_the_edge():
    image, hard = person_on_blue()
    alpha = alpha_matte(image, hard * 0.9 + 0.05)
    assert alpha.min() == 0 and alpha.max() == 1
    assert ((alpha > 0) & (alpha < 1)).sum() == 0  # 0.05 / 0.95 are outside the soft band
    with pytest.raises(ValueError, match="does not match"):
        alpha_matte(image, hard[:10])


@pytest.mark.parametrize(
    ("effect", "shape"),
    [
        ("mask", (120, 90)),
        ("overlay", (120, 90, 3)),
        ("cutout", (120, 90, 4)),
        ("blur", (120, 90, 3)),
    ],
)
def test_apply_effect_shapes(effect, shape):
    image, alpha = person_on_blue()
    assert apply_effect(image, alpha, effect).shape == shape


def test_effects_refuse_grey_and_rgba_images_with_one_clear_error():
    image, alpha = person_on_blue()
    for bad in (image[..., 0], np.dstack([image, image[..., :1]])):
        with pytest.raises(ValueError, match="RGB uint8 image"):
            apply_effect(bad, alpha, "blur")


def test_replace_without_background_says_what_is_missing():
    image, alpha = person_on_blue()
    with pytest.raises(ValueError, match="needs a background"):
        apply_effect(image, alpha, "replace")


def test_predict_files_times_per_image_not_per_file(tmp_path):
    """Several effects write several files per image; the time is still per image."""
    import time

    import cv2

    from personseg.inference.run import predict_files

    class SlowSegmenter:
        threshold = 0.5

        def predict_batch(self, images):
            time.sleep(0.05 * len(images))
            return [np.full(im.shape[:2], 0.9, np.float32) for im in images]

    image, _ = person_on_blue()
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), image)
    r = predict_files(SlowSegmenter(), [path], tmp_path / "out", effects=["mask", "cutout", "blur"])
    assert len(r["written"]) == 3
    assert r["ms_per_image"] >= 50


def _blocky_logits(batch: np.ndarray) -> np.ndarray:
    """Stands in for a network that finds the (bright) person but only at 1/8 resolution."""
    n, _, h, w = batch.shape
    bright = (batch.mean(axis=1, keepdims=True) > 0).astype(np.float32)
    coarse = bright.reshape(n, 1, h // 8, 8, w // 8, 8).mean(axis=(3, 5))
    return (coarse.repeat(8, axis=2).repeat(8, axis=3) - 0.5) * 20


def _disc_sample(tmp_path) -> tuple[np.ndarray, np.ndarray, list[Sample]]:
    """A bright disc on a dark photo, labelled exactly, with its edge off the 8-px grid."""
    yy, xx = np.mgrid[:96, :96]
    truth = ((yy - 48) ** 2 + (xx - 44) ** 2 < 30**2).astype(np.uint8)
    image = np.where(truth[..., None] > 0, 200, 40).astype(np.uint8).repeat(3, axis=2)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    cv2.imwrite(str(tmp_path / "a_mask.png"), truth * 255)
    return image, truth, [Sample("a", tmp_path / "a.png", tmp_path / "a_mask.png")]


def test_guided_refine_moves_every_output_onto_the_photos_edge(tmp_path):
    image, truth, samples = _disc_sample(tmp_path)
    seg = Segmenter(
        _blocky_logits,
        ModelSpec("unet", input_size=96, resize="stretch", mean=(0.5,) * 3, std=(0.5,) * 3),
    )
    assert seg.refine == "guided"  # the default: masks, effects and scores share this edge
    guided = evaluate_samples(seg, samples)
    guided_mask = apply_effect(image, seg.predict(image), "mask") > 0
    seg.refine = "none"
    plain = evaluate_samples(seg, samples)
    plain_mask = apply_effect(image, seg.predict(image), "mask") > 0
    assert (plain["refine"], guided["refine"]) == ("none", "guided")
    # the guided edge follows the photo's edge, so it scores better than the blocky map
    assert guided["mean_iou"] > plain["mean_iou"] + 0.01
    assert guided["mean_boundary_f1"] > plain["mean_boundary_f1"]
    # the mask effect is the evaluated mask, whichever the edge
    truth = truth.astype(bool)
    assert (guided_mask ^ truth).sum() < (plain_mask ^ truth).sum()
    assert iou_score(guided_mask, truth) == pytest.approx(guided["mean_iou"])


def test_a_large_photos_edge_is_filtered_from_the_models_map_without_enlarging_it():
    """For a photo over GUIDE_SIZE the Segmenter hands the filter its map at the filter's
    size; the result matches filtering the map enlarged to the photo's size first."""
    yy, xx = np.mgrid[:600, :800]
    disc = (yy - 300) ** 2 + (xx - 420) ** 2 < 200**2
    image = np.where(disc[..., None], 200, 40).astype(np.uint8).repeat(3, axis=2)
    spec = ModelSpec("unet", input_size=96, resize="fit", mean=(0.5,) * 3, std=(0.5,) * 3)
    guided = Segmenter(_blocky_logits, spec).predict(image)
    raw = Segmenter(_blocky_logits, spec, refine="none").predict(image)  # at the photo's size
    reference = refine_edge(image, raw)
    assert guided.shape == reference.shape == (600, 800)
    assert np.abs(guided - reference).mean() < 0.002 and np.abs(guided - reference).max() < 0.1
    assert ((guided > 0.5) == (reference > 0.5)).mean() > 0.999


def test_apply_effect_uses_the_edge_it_is_given_and_refine_edge_fixes_a_raw_one():
    image, hard = person_on_blue()
    raw = cv2.resize(cv2.resize(hard, (9, 12), interpolation=cv2.INTER_AREA), (90, 120))
    as_given = apply_effect(image, raw, "mask")
    assert np.array_equal(as_given, ((raw > 0.5) * 255).astype(np.uint8))
    refined = apply_effect(image, refine_edge(image, raw), "mask") > 0
    assert (refined ^ (hard > 0)).sum() < ((as_given > 0) ^ (hard > 0)).sum()
    with pytest.raises(ValueError, match="refine must be one of"):
        refine_edge(image, raw, "sharp")


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p,
        lambda p: p.astype(np.float64),
        lambda p: p[:, ::2],  # a strided view
        lambda p: p.T,  # another memory order
        lambda p: (p > 0.5).astype(np.uint8),  # not a float map
        lambda p: p[:1, 4:5],  # one pixel (OpenCV reads a number as a 4-vector there)
        lambda p: p[:1, :4],
    ],
)
def test_binary_mask_is_255_strictly_above_the_threshold(make):
    rng = np.random.default_rng(0)
    prob = rng.random((40, 60), dtype=np.float32)
    prob[0, :6] = [0.0, 0.5, 0.50001, 0.49999, 1.0, 0.3]
    prob = make(prob)
    got = binary_mask(prob, 0.5)
    assert got.dtype == np.uint8 and got.shape == prob.shape
    assert np.array_equal(got, np.where(prob > 0.5, 255, 0))


def test_a_blur_wider_than_the_frame_is_quick_and_flat():
    """Strengths far past the frame's size (a typo, or a test of limits) give the frame's mean
    colour behind the person at once, not a kernel of millions of pixels."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (72, 128, 3), dtype=np.uint8)
    alpha = np.zeros((72, 128), np.float32)
    out = blur_background(image, alpha, strength=1e8)
    assert out.std(axis=(0, 1)).max() < 2.0
    assert np.abs(out.mean(axis=(0, 1)) - image.mean(axis=(0, 1))).max() < 3.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_a_segmenter_keeps_freed_memory_for_reuse_on_glibc():
    """The setting is taken (mallopt says so), once per process, and trimming still works."""
    import platform

    from personseg.inference import memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert memory.keep_freed_memory() is True
    assert memory.keep_freed_memory.cache_info().currsize == 1
    memory.malloc_trim()
