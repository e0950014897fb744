"""The page's in-browser mode in Debian's headless Chromium: the bundled fast model on ONNX
Runtime Web in the page, on dropped real photos and on a fake camera playing a clip made from a
real photo and its mask, checked against the Python ``Segmenter.load("fast")`` and the masks;
and the fall-back to the server where WebAssembly is missing.

Needs ../shared/data (skips without it unless PERSONSEG_REQUIRE_DATA=1) and the browser
(pagetools.chromium)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from pagetools import chromium, open_page, pan, read_image, running_server, wait_for, write_y4m

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[dev]'")

from personseg.inference.effects import apply_effect
from personseg.inference.segmenter import Segmenter


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert image is not None, "not an image"
    return image


@pytest.fixture(scope="module")
def fast() -> Segmenter:
    return Segmenter.load("fast", backend="onnx")


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[Path]:
    """The first three val photos of ccp and of humanseg290."""
    out = []
    for name in ("ccp", "humanseg290"):
        for stem in (shared_data / name / "val.txt").read_text().split()[:3]:
            out.append((shared_data / name / "images" / f"{stem}.jpg").resolve())
    return out


@pytest.fixture(scope="module")
def page(shared_data: Path, tmp_path_factory):
    """A server (the default model on ONNX Runtime) and a Chromium whose camera plays a slow
    pan over the first ccp val photo, with the pan's masks."""
    folder = tmp_path_factory.mktemp("page")
    stem = (shared_data / "ccp" / "val.txt").read_text().split()[0]
    bgr = cv2.imread(str(shared_data / "ccp/images" / f"{stem}.jpg"))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    truth = cv2.imread(str(shared_data / "ccp/masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
    played = write_y4m(folder / "clip.y4m", pan(rgb))
    masks = [m > 127 for m in pan(truth)]
    with running_server(folder, "--backend", "onnx") as server:
        driver = chromium(folder, folder / "clip.y4m")
        try:
            yield SimpleNamespace(driver=driver, server=server, frames=played, masks=masks)
        finally:
            driver.quit()


def server_log(page) -> str:
    return page.server.log.read_text()


def drop(driver, effect: str, files: list[Path], fmt: str = "png") -> list:
    """Photos dropped on the page with ``effect`` in ``fmt``, once all are done (in order)."""
    from selenium.webdriver.common.by import By

    driver.execute_script(
        "document.getElementById('effect').value = arguments[0];"
        "document.getElementById('format').value = arguments[1];"
        "document.getElementById('results').replaceChildren();"
        "document.getElementById('files').value = '';",  # else ChromeDriver adds to the last
        effect,
        fmt,
    )
    driver.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    wait_for(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, ".result[data-state]")) == len(files),
        120,
        "every photo's result",
    )
    rows = driver.find_elements(By.CSS_SELECTOR, ".result")[::-1]  # newest first on the page
    for row in rows:
        assert row.get_attribute("data-state") == "done", row.text
    return rows


def test_dropped_photos_are_segmented_in_the_browser_as_python_does(page, photos, fast):
    from selenium.webdriver.common.by import By

    d = page.driver
    open_page(d, page.server.url)
    status = d.find_element(By.ID, "mode-status").text
    assert status.startswith("in-browser: fast model, WebAssembly"), status
    assert d.execute_script("return self.crossOriginIsolated") is True  # threads allowed
    before = server_log(page)
    rows = drop(d, "mask", photos)
    ious = []
    for i, (row, photo) in enumerate(zip(rows, photos, strict=True)):
        assert "ms in this browser" in row.find_element(By.CSS_SELECTOR, ".status").text
        shown = decode(read_image(d, f".result:nth-last-child({i + 1}) .after"), 0) > 127
        ious.append(iou(shown, fast.predict_mask(photo) > 0))
    assert np.mean(ious) >= 0.98 and min(ious) >= 0.95, ious
    # the cut-out's alpha is Python's, to a few grey levels
    drop(d, "cutout", photos[:1])
    rgba = decode(read_image(d, ".result .after"))
    rgb = cv2.cvtColor(cv2.imread(str(photos[0])), cv2.COLOR_BGR2RGB)
    want = apply_effect(rgb, fast.predict(photos[0]), "cutout")
    assert rgba.shape == want.shape
    assert np.abs(rgba[..., 3].astype(int) - want[..., 3]).mean() < 3
    assert "/v1/segment" not in server_log(page)[len(before) :]  # nothing was sent


def test_the_live_tab_runs_in_the_browser_and_sends_no_frame(page, fast):
    from selenium.webdriver.common.by import By

    d = page.driver
    open_page(d, page.server.url)
    before = server_log(page)
    d.execute_script("document.getElementById('effect').value = 'mask'")
    d.find_element(By.ID, "tab-live").click()
    d.find_element(By.ID, "live-start").click()
    wait_for(lambda: int(d.find_element(By.ID, "frames").text) >= 8, 60, "8 frames in the page")
    shown = decode(read_image(d, "#live-canvas"), 0) > 127
    assert shown.shape == page.masks[0].shape
    # the frame on show is one of the clip's: the best match among them
    python = [fast.predict_mask(f) > 0 for f in page.frames]
    assert max(iou(shown, p) for p in python) >= 0.9
    assert max(iou(shown, m) for m in page.masks) >= 0.8
    assert float(d.find_element(By.ID, "fps").text) > 0
    assert d.find_element(By.ID, "live-status").text == "running in this browser"
    d.find_element(By.ID, "live-stop").click()
    # blur: the background (where no frame has the person) loses its fine detail
    background = ~np.logical_or.reduce(page.masks)
    background = cv2.erode(background.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert background.sum() > 2000
    d.execute_script("document.getElementById('effect').value = 'blur'")
    start = int(d.find_element(By.ID, "frames").text)
    d.find_element(By.ID, "live-start").click()
    wait_for(lambda: int(d.find_element(By.ID, "frames").text) >= start + 5, 60, "5 more frames")
    blurred = decode(read_image(d, "#live-canvas"), cv2.IMREAD_COLOR)[..., ::-1]
    d.find_element(By.ID, "live-stop").click()

    def detail(rgb: np.ndarray) -> float:
        lap = cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F)
        return float(lap[background].var())

    assert detail(blurred) < 0.3 * min(detail(f) for f in page.frames)
    assert "/v1/stream" not in server_log(page)[len(before) :]  # no frame went to the server


def test_without_webassembly_the_page_says_so_and_uses_the_server(page, photos, tmp_path):
    from selenium.webdriver.common.by import By

    d = chromium(tmp_path)
    try:  # as in a browser without WebAssembly (or with it switched off by policy)
        d.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": "delete globalThis.WebAssembly;"}
        )
        open_page(d, page.server.url)
        status = d.find_element(By.ID, "mode-status").text
        assert status == (
            "in-browser mode unavailable (this browser has no WebAssembly): the server segments"
        )
        assert d.execute_script("return document.getElementById('mode').value") == "server"
        rows = drop(d, "mask", photos[:1])
        assert "ms on the server" in rows[0].find_element(By.CSS_SELECTOR, ".status").text
    finally:
        d.quit()
