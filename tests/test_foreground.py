"""Edge colour decontamination (personseg.inference.foreground) on a drawn composite whose
true foreground is known."""

from __future__ import annotations

import numpy as np

from personseg.inference.effects import apply_effect
from personseg.inference.foreground import estimate_foreground


def composite() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red disc with a soft 12-pixel edge over a green-and-blue striped background."""
    yy, xx = np.mgrid[:160, :200]
    r = np.hypot(yy - 80, xx - 100)
    alpha = np.clip((50 - r) / 12 + 0.5, 0, 1).astype(np.float32)
    fg = np.zeros((160, 200, 3), np.float32)
    fg[...] = (200, 40, 40)
    bg = np.where((xx // 10 % 2)[..., None] == 0, (20, 200, 60), (30, 60, 220)).astype(np.float32)
    image = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg + 0.5).astype(np.uint8)
    return image, alpha, fg


def test_the_soft_edge_takes_the_persons_colour_and_the_rest_is_the_photo():
    image, alpha, fg = composite()
    out = estimate_foreground(image, alpha)
    band = (alpha > 0.05) & (alpha < 0.95)
    before = np.abs(image[band].astype(np.float32) - fg[band]).mean()
    after = np.abs(out[band].astype(np.float32) - fg[band]).mean()
    assert after < 0.6 * before, (before, after)  # 63 → 32 grey levels when written
    solid = (alpha == 0) | (alpha == 1)
    np.testing.assert_array_equal(out[solid], image[solid])
    assert estimate_foreground(image, (alpha > 0.5).astype(np.float32)) is image  # no soft edge


def test_cutout_and_replace_decontaminate_unless_told_not_to():
    image, alpha, fg = composite()
    prob = np.clip((alpha - 0.5) * 0.4 + 0.5, 0, 1)  # alpha_matte(prob) gives alpha back
    on = apply_effect(image, prob, "cutout")
    off = apply_effect(image, prob, "cutout", decontaminate=False)
    np.testing.assert_array_equal(off[..., :3], image)
    np.testing.assert_array_equal(on[..., 3], off[..., 3])
    band = (alpha > 0.05) & (alpha < 0.95)
    assert (on[..., :3] != image).any(axis=2)[band].mean() > 0.5
    white = apply_effect(image, prob, "replace", background="#ffffff")
    plain = apply_effect(image, prob, "replace", background="#ffffff", decontaminate=False)
    truth = alpha[..., None] * fg + (1 - alpha[..., None]) * 255  # the disc drawn on white
    err = [np.abs(x[band].astype(np.float32) - truth[band]).mean() for x in (white, plain)]
    assert err[0] < 0.7 * err[1], err
