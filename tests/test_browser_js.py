"""The page's JavaScript ports of the Python pre- and post-processing (serve/static/browser.js),
run in Node against the Python functions they copy: fit_shape, guide_shape, area_resize and
the guided filter. (The whole page is tested in Chromium: tests/test_page_browser.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from personseg.data.geometry import area_resize, fit_shape
from personseg.inference.effects import GUIDE_SIZE, guide_shape, guided_filter
from personseg.serve.pages import STATIC

NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def need_node() -> None:
    """Skip without Node.js, unless PERSONSEG_REQUIRE_BROWSER=1 (.ci/run installs it)."""
    if NODE is None:
        reason = "Node.js is not installed (apt-get install nodejs)"
        if os.environ.get("PERSONSEG_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; PERSONSEG_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)


def run_js(body: str, data: dict) -> object:
    """``body`` run in Node with the module as ``m`` and ``data`` as ``D``; its ``out``."""
    script = (
        f"import * as m from {json.dumps((STATIC / 'browser.js').as_uri())};\n"
        f"const D = JSON.parse(process.argv[1]);\n{body}\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    proc = subprocess.run(
        [NODE, "--input-type=module", "-e", script, json.dumps(data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_fit_and_guide_shapes_are_pythons():
    rng = np.random.default_rng(0)
    sizes = [(830, 550), (480, 640), (720, 1280), (1, 1), (37, 2000), (3000, 4000)]
    sizes += [tuple(int(v) for v in rng.integers(1, 3000, 2)) for _ in range(40)]
    out = run_js(
        "const out = D.map(([h, w]) => [m.fitShape(h, w, 256, 16), m.guideShape(h, w, 384)]);",
        sizes,
    )
    want = [
        [list(fit_shape(h, w, 256, 16)), list(guide_shape((h, w), GUIDE_SIZE))] for h, w in sizes
    ]
    assert out == want


@pytest.mark.parametrize(
    "src, dst", [((48, 64), (22, 30)), ((45, 61), (13, 20)), ((30, 40), (29, 39))]
)
def test_area_resize_is_pythons_to_a_grey_level(src, dst):
    """Whole-factor average then bilinear, a plain area resize (no whole factor), bilinear."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*src, 3), dtype=np.uint8)
    out = run_js(
        "const img = {data: Float32Array.from(D.pixels), width: D.w, height: D.h, stride: 3, "
        "channels: 3};\nconst out = Array.from(m.areaResize(img, D.nw, D.nh).data);",
        {"pixels": image.ravel().tolist(), "w": src[1], "h": src[0], "nw": dst[1], "nh": dst[0]},
    )
    got = np.asarray(out).reshape(dst[0], dst[1], 3)
    want = area_resize(image, (dst[1], dst[0])).astype(int)
    assert np.abs(got - want).max() <= 1


def test_the_guided_filter_is_pythons():
    """refine_edge's filter: coefficients at the guide shape, applied at the image's size."""
    rng = np.random.default_rng(2)
    h, w, gh, gw = 60, 80, 30, 40
    grey = cv2.GaussianBlur(rng.integers(0, 256, (h, w), dtype=np.uint8), (5, 5), 0)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    small_guide = area_resize(grey, (gw, gh))
    prob = cv2.GaussianBlur(rng.random((gh, gw), dtype=np.float32), (7, 7), 0)
    out = run_js(
        "const img = {data: Uint8ClampedArray.from(D.rgba), width: D.w, height: D.h};\n"
        "const out = Array.from(m.internals.refineEdge(img, Float32Array.from(D.guide), "
        "Float32Array.from(D.prob), D.gw, D.gh));",
        {
            "rgba": rgba.ravel().tolist(), "w": w, "h": h, "gw": gw, "gh": gh,
            "guide": small_guide.ravel().tolist(), "prob": prob.ravel().tolist(),
        },
    )  # fmt: skip
    got = np.asarray(out, np.float32).reshape(h, w)
    want = np.clip(guided_filter(grey, prob, 2, 1e-3, max(gh, gw)), 0, 1)
    assert np.abs(got - want).max() < 2e-3


def test_the_stride_4_warp_and_the_motion_grey_are_pythons():
    """unletterbox (the map at stride 4 back into the picture's box) and smoothed_grey."""
    from personseg.data.geometry import unletterbox
    from personseg.inference.video import smoothed_grey

    rng = np.random.default_rng(3)
    prob = rng.random((56, 80), dtype=np.float32)
    box, shape = (0, 10, 224, 299), (288, 384)
    grey = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    out = run_js(
        "const out = [Array.from(m.internals.unletterbox(Float32Array.from(D.prob), 80, 56, "
        "D.box, D.h, D.w, 4)), Array.from(m.internals.blurredGrey({data: "
        "Float32Array.from(D.grey), width: 53, height: 37}))];",
        {"prob": prob.ravel().tolist(), "box": box, "h": shape[0], "w": shape[1],
         "grey": grey.ravel().tolist()},
    )  # fmt: skip
    warp = np.asarray(out[0], np.float32).reshape(shape)
    assert np.abs(warp - unletterbox(prob, box, shape, 4)).max() < 0.02
    blurred = np.asarray(out[1]).reshape(grey.shape)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    assert np.abs(blurred - smoothed_grey(rgb).astype(int)).max() <= 1


@pytest.mark.parametrize("src, dst", [((2, 1), (1, 1)), ((1, 2), (1, 1)), ((3, 5), (2, 2))])
def test_area_resize_of_tiny_images_is_pythons(src, dst):
    image = np.arange(src[0] * src[1] * 3, dtype=np.uint8).reshape(*src, 3) * 7
    out = run_js(
        "const img = {data: Float32Array.from(D.pixels), width: D.w, height: D.h, stride: 3, "
        "channels: 3};\nconst out = Array.from(m.areaResize(img, D.nw, D.nh).data);",
        {"pixels": image.ravel().tolist(), "w": src[1], "h": src[0], "nw": dst[1], "nh": dst[0]},
    )
    want = area_resize(image, (dst[1], dst[0])).astype(int).reshape(dst[0], dst[1], 3)
    assert np.abs(np.asarray(out).reshape(want.shape) - want).max() <= 1
