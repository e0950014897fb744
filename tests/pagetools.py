"""Helpers for the page's tests: a real ``personseg serve`` process, Debian's headless Chromium
(Selenium) with a fake camera playing a clip, and reading images back out of the page.

Chromium, ChromeDriver or Selenium missing skips the browser tests, unless
PERSONSEG_REQUIRE_BROWSER=1 (set by .ci/run, which installs them) makes it a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from conftest import ENV

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(folder: Path, *args: str) -> Iterator[SimpleNamespace]:
    """``personseg serve *args`` on a free loopback port; its log must hold no traceback
    when the block ends."""
    log_path = folder / "server.log"
    port = free_port()
    cmd = [sys.executable, "-m", "personseg", "serve", "--port", str(port), *args]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                assert json.load(r)["status"] == "ok"
            break
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"personseg serve did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
    yield SimpleNamespace(url=url, log=log_path)
    proc.terminate()
    proc.wait(20)
    text = log_path.read_text()
    assert "Traceback" not in text and " 500 " not in text, text


def pan(image: np.ndarray, n: int = 10, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """``n`` crops of ``size`` (W, H) of an image (or its mask: nearest neighbour) scaled to a
    little wider than ``size``, moving 4 pixels right per frame: a slow pan."""
    w, h = size
    width = w + n * 4
    scaled = cv2.resize(
        image,
        (width, round(width * image.shape[0] / image.shape[1])),
        interpolation=cv2.INTER_NEAREST if image.ndim == 2 else cv2.INTER_AREA,
    )
    return [np.ascontiguousarray(scaled[:h, i * 4 : i * 4 + w]) for i in range(n)]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> list[np.ndarray]:
    """A Y4M clip (I420) of RGB frames for Chromium's fake camera; returns the frames as the
    camera will play them (through I420 and back)."""
    h, w = frames[0].shape[:2]
    played = []
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
            f.write(b"FRAME\n" + yuv.tobytes())
            played.append(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420))
    return played


def chromium(folder: Path, clip: Path | None = None, *flags: str):
    """A headless Chromium session (Selenium), its fake camera playing ``clip``; skips (or
    fails under PERSONSEG_REQUIRE_BROWSER=1) when the browser is missing."""
    missing = [
        name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path
    ]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        reason = (
            f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("PERSONSEG_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; PERSONSEG_REQUIRE_BROWSER=1 requires them")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--window-size=1280,900",
        f"--user-data-dir={folder / 'profile'}",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        *([f"--use-file-for-fake-video-capture={clip}"] if clip else []),
        *flags,
    ):
        options.add_argument(flag)
    # ChromeDriver and its Chromium in a session of their own, apart from the test process
    service = Service(CHROMEDRIVER, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(options=options, service=service)
    # Selenium waits on ChromeDriver without a limit by default: a browser that stops
    # answering must fail the test, not stall the suite
    driver.command_executor._client_config.timeout = 120
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    return driver


READ_IMAGE = """
const done = arguments[arguments.length - 1];
const el = document.querySelector(arguments[0]);
const source = el.tagName === "CANVAS"
  ? new Promise((ok) => el.toBlob(ok, "image/png")).then((b) => b.arrayBuffer())
  : fetch(el.src).then((r) => r.arrayBuffer());
source
  .then((buf) => {
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    done(btoa(s));
  })
  .catch((e) => done("ERROR " + e));
"""


def wait_for(condition, seconds: float = 30.0, what: str = "the page"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def read_image(driver, selector: str) -> bytes:
    """The encoded bytes of an ``<img>``'s picture, or a ``<canvas>``'s as PNG."""
    data = driver.execute_async_script(READ_IMAGE, selector)
    assert not data.startswith("ERROR"), data
    return base64.b64decode(data)


def open_page(driver, url: str) -> None:
    """The page, once it has tried to load its in-browser model."""
    driver.get(url + "/")
    wait_for(
        lambda: driver.execute_script("return document.body.dataset.ready") == "yes",
        60,
        "the page's in-browser model",
    )


def result_state(driver) -> str | None:
    return driver.execute_script(
        "const r = document.querySelector('.result'); return r && r.dataset.state"
    )
