"""The page's in-browser mode in headless Chromium: its masks against Python's, and its live
frame rate.

- ``parity``: every ``val.txt`` photo of ccp and humanseg290 dropped on the page (effect
  ``mask``, in-browser mode), each mask against ``Segmenter.load("fast")``'s (mean and least
  IoU), and the page's ms per photo;
- ``live``: a 640×480 fake camera at 30 frames/s (a slow pan over real photos), the Live tab in
  in-browser mode with the blur effect for ``--seconds``; the frames/s the page reports.

Needs Debian's chromium and chromium-driver, selenium (the dev extra) and ../shared/data:

    python benchmarks/browser_page.py --data ../shared/data [--only parity|live] [--json out.json]
        [--screenshot docs/images/page-live.png]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import machine, save
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from serve_load import wait_up

from personseg.inference.segmenter import Segmenter

READ = """const done = arguments[arguments.length - 1];
fetch(arguments[0]).then((r) => r.arrayBuffer()).then((buf) => {
  const b = new Uint8Array(buf); let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  }
  done(btoa(s));
});"""


def browser(folder: Path, clip: Path | None) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    flags += ["--window-size=1280,760"]
    flags += [f"--user-data-dir={folder / 'profile'}", "--use-fake-ui-for-media-stream"]
    flags += ["--use-fake-device-for-media-stream"]
    if clip:
        flags.append(f"--use-file-for-fake-video-capture={clip}")
    for flag in flags:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(120)
    return driver


def open_page(d: webdriver.Chrome, url: str) -> str:
    d.get(url + "/")
    deadline = time.monotonic() + 120
    while d.execute_script("return document.body.dataset.ready") != "yes":
        if time.monotonic() > deadline:
            raise SystemExit("the page did not load its in-browser model in 120 s")
        time.sleep(0.1)
    return d.find_element(By.ID, "mode-status").text


def parity(d: webdriver.Chrome, url: str, data: Path) -> dict:
    fast = Segmenter.load("fast", backend="onnx")
    out = {}
    for name in ("ccp", "humanseg290"):
        stems = (data / name / "val.txt").read_text().split()
        ious, ms = [], []
        for start in range(0, len(stems), 10):  # ten photos a drop
            paths = [
                (data / name / "images" / f"{s}.jpg").resolve() for s in stems[start : start + 10]
            ]
            open_page(d, url)
            d.execute_script("document.getElementById('effect').value = 'mask'")
            d.find_element(By.ID, "files").send_keys("\n".join(map(str, paths)))
            while len(d.find_elements(By.CSS_SELECTOR, ".result[data-state]")) < len(paths):
                time.sleep(0.2)
            rows = d.find_elements(By.CSS_SELECTOR, ".result")[::-1]
            for row, path in zip(rows, paths, strict=True):
                status = row.find_element(By.CSS_SELECTOR, ".status").text
                if row.get_attribute("data-state") != "done" or "in this browser" not in status:
                    raise SystemExit(f"{path}: {status}")
                ms.append(float(status.split(", ")[1].split(" ms")[0]))
                src = row.find_element(By.CSS_SELECTOR, ".after").get_attribute("src")
                png = base64.b64decode(d.execute_async_script(READ, src))
                shown = cv2.imdecode(np.frombuffer(png, np.uint8), 0) > 127
                want = fast.predict_mask(path) > 0
                ious.append(float((shown & want).sum() / max(1, (shown | want).sum())))
        out[name] = {
            "photos": len(ious),
            "mean_iou": round(statistics.mean(ious), 4),
            "min_iou": round(min(ious), 4),
            "median_ms_per_photo": round(statistics.median(ms), 1),
        }
        print(name, out[name], flush=True)
    return out


def live_clip(path: Path, data: Path, seconds: int = 4, fps: int = 30) -> None:
    """640×480 I420 frames at ``fps``: a pan across the first humanseg290 val photos."""
    stems = (data / "humanseg290" / "val.txt").read_text().split()[:seconds]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for stem in stems:
            rgb = cv2.imread(str(data / "humanseg290" / "images" / f"{stem}.jpg"))[..., ::-1]
            big = cv2.resize(rgb, (640 + fps * 2, 480 + fps), interpolation=cv2.INTER_AREA)
            for i in range(fps):
                frame = np.ascontiguousarray(big[i // 2 : i // 2 + 480, 2 * i : 2 * i + 640])
                f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())


def live(d: webdriver.Chrome, url: str, seconds: float, screenshot: str | None = None) -> dict:
    open_page(d, url)
    d.execute_script("document.getElementById('effect').value = 'blur'")
    d.find_element(By.ID, "tab-live").click()
    d.find_element(By.ID, "live-start").click()
    time.sleep(3)  # warm-up
    first, t0 = int(d.find_element(By.ID, "frames").text), time.monotonic()
    readings = []
    while time.monotonic() - t0 < seconds:
        time.sleep(1)
        readings.append(float(d.find_element(By.ID, "fps").text))
    frames = int(d.find_element(By.ID, "frames").text) - first
    elapsed = time.monotonic() - t0
    if screenshot:
        d.save_screenshot(screenshot)
    status = d.find_element(By.ID, "live-status").text
    stages = d.find_element(By.ID, "live-stages").text
    d.find_element(By.ID, "live-stop").click()
    size = d.execute_script(
        "const c = document.getElementById('live-canvas'); return [c.width, c.height]"
    )
    return {
        "status": status,
        "last_frame_stages": stages,
        "canvas": size,
        "frames_per_s_counted": round(frames / elapsed, 1),
        "frames_per_s_page_median": round(statistics.median(readings), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--only", choices=("parity", "live"))
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--port", type=int, default=8781)
    ap.add_argument("--json")
    ap.add_argument("--screenshot", help="a PNG of the page at the end of the live run")
    args = ap.parse_args()
    results: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cmd = [sys.executable, "-m", "personseg", "serve", "--port", str(args.port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{args.port}"
        try:
            wait_up(args.port, proc)
            live_clip(folder / "clip.y4m", args.data)
            d = browser(folder, folder / "clip.y4m")
            try:
                results["page"] = open_page(d, url)
                print(results["page"], flush=True)
                if args.only in (None, "parity"):
                    results["parity"] = parity(d, url, args.data)
                if args.only in (None, "live"):
                    results["live"] = live(d, url, args.seconds, args.screenshot)
                    print(results["live"], flush=True)
            finally:
                d.quit()
        finally:
            proc.terminate()
            proc.wait(20)
    save(results, args.json)


if __name__ == "__main__":
    main()
