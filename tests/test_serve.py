"""``personseg serve``: the API in-process (FastAPI's TestClient, the bundled model), one real
server process on 127.0.0.1, and the page in Debian's headless Chromium (Selenium).

The browser tests skip when Chromium, ChromeDriver or Selenium is missing, unless
PERSONSEG_REQUIRE_BROWSER=1 (set by .ci/run, which installs them) turns the skip into a failure.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from badimages import bomb_png, encode, odd_pngs, photo_like, truncated_jpeg
from conftest import REPO
from pagetools import (
    chromium,
    free_port,
    open_page,
    pan,
    read_image,
    result_state,
    running_server,
    wait_for,
    write_y4m,
)

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[dev]'")
from fastapi.testclient import TestClient

from personseg.cli import main
from personseg.inference.effects import EFFECTS, apply_effect
from personseg.inference.images import decode_image, encode_image
from personseg.inference.run import sample_image
from personseg.serve import ServeSettings, create_app
from personseg.serve.admission import QUEUE_CEILING, QUEUE_FLOOR

PHOTO = sample_image()  # a real portrait photo (Grace Hopper, 512x600) shipped by matplotlib
BLACK = "#102030"


def decode(data: bytes) -> np.ndarray:
    """RGB, RGBA or grey array of PNG/WebP/JPEG bytes (channels in RGB order)."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert arr is not None, data[:64]
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return arr


@pytest.fixture(scope="module")
def small_photo() -> np.ndarray:
    """The real photo at 80x96: every model call on it takes milliseconds."""
    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (80, 96), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def client(default_segmenter):
    with TestClient(create_app(ServeSettings(), default_segmenter)) as c:
        yield c


def post(client, data: bytes, **params) -> object:
    return client.post("/v1/segment", params=params, files={"image": ("x.png", data)})


def test_health_models_page_and_openapi(client):
    work = client.app.state.work  # no --queue: sized from the measured rate
    assert client.get("/healthz").json() == {
        "status": "ok",
        "queued": 0,
        "queue": work.limit,
        "seconds_per_request": round(work.admission.seconds_per_request, 4),
    }
    assert QUEUE_FLOOR <= work.limit <= QUEUE_CEILING
    info = client.get("/v1/models").json()
    assert info["limits"]["queue"] == work.limit and info["limits"]["queue_fixed"] is False
    assert info["models"][0]["name"] == "default" and info["effects"] == list(EFFECTS)
    assert info["limits"]["max_bytes"] == 20_000_000 and info["limits"]["max_pixels"] == 40e6
    page = client.get("/")
    assert page.status_code == 200 and 'id="tab-live"' in page.text and "cdn" not in page.text
    assert client.get("/static/app.js").status_code == 200
    assert "/v1/segment" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs")  # Swagger UI from the package, not from a CDN
    assert docs.status_code == 200 and "/swagger/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text and client.get("/swagger/swagger-ui-bundle.js").status_code == 200


def test_the_page_gets_the_fast_model_its_runtime_and_cross_origin_isolation(client):
    from personseg.checkpoint import bundled_onnx, load_checkpoint

    spec = load_checkpoint("fast").spec
    info = client.get("/v1/browser").json()
    assert info["name"] == "fast" and info["model"] == "/v1/browser/model.onnx"
    assert (info["input_size"], info["divisor"], info["threshold"]) == (
        spec.input_size, spec.divisor, spec.threshold,
    )  # fmt: skip
    assert info["mean"] == list(spec.mean) and info["std"] == list(spec.std)
    model = client.get(info["model"])
    assert model.content == bundled_onnx("fast").read_bytes()
    types = {
        "/static/ort/ort.wasm.min.mjs": "text/javascript",
        "/static/ort/ort-wasm-simd-threaded.wasm": "application/wasm",
        "/static/browser.js": "text/javascript",
    }
    for path, kind in types.items():
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
    for path in ("/", "/v1/browser", info["model"], *types):  # WebAssembly threads need both
        headers = client.get(path).headers
        assert headers["cross-origin-opener-policy"] == "same-origin", path
        assert headers["cross-origin-embedder-policy"] == "require-corp", path


def test_the_vendored_onnxruntime_web_is_the_pinned_release_unchanged():
    """The files match the SHA-256 sums written when they were fetched and checked against the
    npm registry's integrity (benchmarks/vendor_ort_web.py), and that script's pin."""
    import hashlib

    from personseg.serve.pages import STATIC

    folder = STATIC / "ort"
    sums = dict(
        reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    assert sorted(sums) == sorted(
        ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
    )
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    script = (REPO / "benchmarks" / "vendor_ort_web.py").read_text()
    version = (folder / "VERSION").read_text().split()[1]
    assert f'VERSION = "{version}"' in script
    assert "MIT License" in (folder / "LICENSE").read_text()


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_effect_is_the_library_effect_at_the_photo_size(
    client, default_segmenter, small_photo, effect
):
    params = {"effect": effect, "background": BLACK} if effect == "replace" else {"effect": effect}
    r = post(client, encode(small_photo), **params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and "model;dur=" in r.headers["server-timing"]
    seg = default_segmenter
    expected = apply_effect(
        small_photo, seg.predict(small_photo), effect, seg.threshold, background=(16, 32, 48)
    )
    assert np.array_equal(decode(r.content), expected)


def test_background_image_field_raw_body_formats_and_input_size(
    client, default_segmenter, small_photo
):
    seg, bg = default_segmenter, photo_like(50, 60, seed=3)
    files = [("image", ("a.png", encode(small_photo))), ("background", ("b.png", encode(bg)))]
    r = client.post("/v1/segment", params={"effect": "replace"}, files=files)
    prob = seg.predict(small_photo)
    expected = apply_effect(small_photo, prob, "replace", seg.threshold, background=bg)
    assert r.status_code == 200 and np.array_equal(decode(r.content), expected)
    colour = client.post(  # a colour as a plain form field
        "/v1/segment", params={"effect": "replace"}, data={"background": BLACK}, files=files[:1]
    )
    expected = apply_effect(small_photo, prob, "replace", seg.threshold, background=(16, 32, 48))
    assert np.array_equal(decode(colour.content), expected)
    raw = client.post("/v1/segment", content=encode(small_photo), headers={"content-type": "x/y"})
    assert np.array_equal(decode(raw.content), apply_effect(small_photo, prob, "cutout"))
    for fmt, magic in (("webp", b"RIFF"), ("jpeg", b"\xff\xd8\xff")):
        r = post(client, encode(small_photo), effect="blur", format=fmt)
        assert r.headers["content-type"] == f"image/{fmt}" and r.content.startswith(magic)
        assert decode(r.content).shape == small_photo.shape
    r = post(client, encode(small_photo), effect="mask", input_size=64)
    small_input = apply_effect(small_photo, _at_size(seg, 64).predict(small_photo), "mask")
    assert r.status_code == 200 and np.array_equal(decode(r.content), small_input)
    assert seg.input_size == 448  # the shared segmenter is never changed


def _at_size(seg, size: int):
    import copy

    other = copy.copy(seg)
    other.input_size = size
    return other


@pytest.mark.parametrize("kind", ["grey16", "rgb16", "rgba", "grey", "palette"])
def test_odd_pngs_are_accepted(client, kind):
    r = post(client, odd_pngs()[kind], effect="cutout")
    assert r.status_code == 200 and decode(r.content).shape == (30, 40, 4)


@pytest.mark.parametrize(
    "case, status, message",
    [
        ("truncated JPEG", 400, "truncated"),
        ("text", 415, "not an image"),
        ("empty body", 400, "empty body"),
        ("bomb PNG", 413, "claims more than"),
        ("48 MP PNG header", 413, "8000x6000 = 48 MP"),
        ("form without image", 400, "no 'image' field"),
        ("replace without background", 422, "needs a background"),
        ("bad colour", 422, "#RRGGBB"),
        ("cut-out as JPEG", 422, "no transparency"),
        ("input size not a multiple of 32", 422, "multiple of 32"),
        ("unknown effect", 422, "cutout"),
    ],
)
def test_bad_requests_get_a_json_error_with_the_right_status(
    client, small_photo, case, status, message
):
    good = encode(small_photo)
    r = {
        "truncated JPEG": lambda: post(client, truncated_jpeg()),
        "text": lambda: post(client, b"hello, this is text\n"),
        "empty body": lambda: client.post("/v1/segment"),
        "bomb PNG": lambda: post(client, bomb_png()),
        "48 MP PNG header": lambda: post(client, bomb_png(8000, 6000)),
        "form without image": lambda: client.post("/v1/segment", files={"photo": ("a", good)}),
        "replace without background": lambda: post(client, good, effect="replace"),
        "bad colour": lambda: post(client, good, effect="replace", background="#12"),
        "cut-out as JPEG": lambda: post(client, good, format="jpeg"),
        "input size not a multiple of 32": lambda: post(client, good, input_size=100),
        "unknown effect": lambda: post(client, good, effect="sparkle"),
    }[case]()
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert message in json.dumps(r.json()["detail"])


def test_uploads_over_max_bytes_are_413_declared_or_streamed(default_segmenter, small_photo):
    data = encode(small_photo)
    app = create_app(ServeSettings(max_bytes=len(data) - 1), default_segmenter)
    with TestClient(app) as c:
        r = c.post("/v1/segment", content=data, headers={"content-type": "image/png"})
        assert r.status_code == 413 and "--max-bytes" in r.json()["detail"]
        chunks = (data[i : i + 1000] for i in range(0, len(data), 1000))  # no Content-Length
        r = c.post("/v1/segment", content=chunks)
        assert r.status_code == 413 and "--max-bytes" in r.json()["detail"]


class SlowSegmenter:
    """Stands in for a Segmenter whose predict waits until released."""

    def __init__(self):
        self.input_size, self.threshold, self.refine, self.backend = 448, 0.5, "none", "stub"
        self.spec = SimpleNamespace(name="stub")
        self.started, self.release = threading.Event(), threading.Event()

    def predict(self, image: np.ndarray) -> np.ndarray:
        self.started.set()
        self.release.wait(10)
        return np.zeros(image.shape[:2], np.float32)


def test_a_full_queue_and_a_timeout_are_503_with_retry_after(small_photo):
    slow = SlowSegmenter()
    app = create_app(ServeSettings(queue=1, timeout=1.0), slow)
    data, first = encode(small_photo), {}
    with TestClient(app) as c:
        worker = threading.Thread(target=lambda: first.update(r=post(c, data)))
        worker.start()
        assert slow.started.wait(10)
        busy = post(c, data)  # the one place in the queue is taken
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["detail"]
        worker.join(10)
        assert first["r"].status_code == 503 and "timed out" in first["r"].json()["detail"]
        slow.release.set()
        deadline = time.monotonic() + 10
        while app.state.work.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert post(c, data).status_code == 200  # the queue is free again


def test_the_stream_websocket_processes_frames_and_survives_bad_ones(
    client, default_segmenter, small_photo
):
    jpeg = encode(small_photo, ".jpg")
    frame = decode_image(jpeg)
    blurred = apply_effect(frame, default_segmenter.predict(frame), "blur")
    with client.websocket_connect("/v1/stream?effect=blur") as ws:
        ws.send_bytes(jpeg)  # the first frame has nothing to be smoothed with
        assert ws.receive_bytes() == encode_image(blurred, "jpeg")
        ws.send_bytes(jpeg)
        out = ws.receive_bytes()
        assert out.startswith(b"\xff\xd8") and decode(out).shape == small_photo.shape
        for bad, status in ((truncated_jpeg(), 400), (bomb_png(), 413), (b"text", 415)):
            ws.send_bytes(bad)
            assert json.loads(ws.receive_text())["status"] == status
        ws.send_text("not a frame")
        assert json.loads(ws.receive_text())["status"] == 400
        ws.send_bytes(jpeg)
        assert decode(ws.receive_bytes()).shape == small_photo.shape
    with client.websocket_connect("/v1/stream?effect=replace") as ws:  # no background
        message = ws.receive()
        assert message["type"] == "websocket.close" and message["code"] == 1008


def test_serve_user_errors_are_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args, message in (
            (["--model", "missing.pt", "--port", str(free_port())], "checkpoint not found"),
            (["--port", port], f"cannot listen on 127.0.0.1:{port}"),
        ):
            assert main(["serve", *args]) == 2
            err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
            assert len(err) == 1 and err[0].startswith("personseg serve: error: ")
            assert message in err[0]


# --- one real server process on 127.0.0.1, shared by the process and browser tests ---


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``personseg serve`` (ONNX Runtime, the bundled int8 model) on a free loopback port."""
    with running_server(tmp_path_factory.mktemp("serve"), "--backend", "onnx") as running:
        yield running


def api_cutout(url: str, data: bytes) -> bytes:
    request = urllib.request.Request(f"{url}/v1/segment?effect=cutout", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png"
        return r.read()


def test_a_real_server_cuts_out_what_predict_writes(server, tmp_path, capsys):
    served = decode(api_cutout(server.url, PHOTO.read_bytes()))
    out = tmp_path / "predicted"
    args = ["predict", str(PHOTO), "--effect", "cutout", "--backend", "onnx", "--out", str(out)]
    assert main(args) == 0
    predicted = decode((out / f"{PHOTO.stem}_cutout.png").read_bytes())
    assert served.shape == (600, 512, 4) and np.array_equal(served, predicted)
    assert 0.1 < (served[..., 3] > 128).mean() < 0.9  # a person, not an empty or full matte


# --- the page in Debian's headless Chromium ---


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: fine detail, which a blur removes."""
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium session for the page tests, its camera a clip of the photo."""
    folder = tmp_path_factory.mktemp("chromium")
    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    frames = pan(rgb)
    write_y4m(folder / "clip.y4m", frames)
    driver = chromium(folder, folder / "clip.y4m")
    size = (frames[0].shape[1], frames[0].shape[0])
    yield SimpleNamespace(driver=driver, clip_size=size, clip_frames=frames)
    driver.quit()


def server_mode(driver, url: str) -> None:
    """The page, set to send its work to the server."""
    open_page(driver, url)
    driver.execute_script("document.getElementById('mode').value = 'server'")


def test_the_page_cuts_out_a_photo_in_chromium(browser, server):
    from selenium.webdriver.common.by import By

    d = browser.driver
    server_mode(d, server.url)
    assert "personseg" in d.title
    d.find_element(By.ID, "files").send_keys(str(PHOTO))
    state = wait_for(lambda: result_state(d), what="the result of the photo")
    status = d.find_element(By.CSS_SELECTOR, ".result .status").text
    assert state == "done", status
    shown = read_image(d, ".result .after")
    assert np.array_equal(decode(shown), decode(api_cutout(server.url, PHOTO.read_bytes())))
    assert "512×600" in status
    link = d.find_element(By.CSS_SELECTOR, ".result .download")
    assert link.get_attribute("download") == f"{PHOTO.stem}_cutout.png"


def test_the_openapi_page_renders_offline_in_chromium(browser, server):
    from selenium.webdriver.common.by import By

    d = browser.driver
    d.get(server.url + "/docs")
    title = wait_for(
        lambda: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"), what="Swagger UI"
    )
    assert "personseg" in title[0].text
    assert "/v1/segment" in d.find_element(By.CSS_SELECTOR, ".swagger-ui").text


def test_the_live_tab_streams_the_camera_through_the_server(browser, server):
    from selenium.webdriver.common.by import By

    d = browser.driver
    server_mode(d, server.url)
    d.find_element(By.ID, "tab-live").click()
    d.find_element(By.ID, "live-start").click()
    wait_for(lambda: int(d.find_element(By.ID, "frames").text) >= 5, 60, "5 processed frames")
    frame = decode(read_image(d, "#live-out"))
    assert frame.shape == (browser.clip_size[1], browser.clip_size[0], 3)
    assert float(d.find_element(By.ID, "fps").text) > 0
    assert d.find_element(By.ID, "live-status").text == "streaming to the server"
    # the background (the wall, top right) comes back blurred: far less fine detail than in
    # any frame of the clip the camera played
    detail = [sharpness(f[:60, 240:]) for f in browser.clip_frames]
    assert sharpness(frame[:60, 240:]) < 0.2 * min(detail)
    d.find_element(By.ID, "live-stop").click()
    assert d.find_element(By.ID, "live-start").is_enabled()


def test_results_too_large_for_the_format_and_bad_stream_options_are_refused_cleanly(client):
    """A WebP side is at most 16383 pixels: 413 with a way out, not a 500; a stream with a
    blur out of range is closed with the reason."""
    from personseg.inference.images import ImageTooLargeError, encode_image

    for blur in ("nan", "1e6", "-1"):
        with client.websocket_connect(f"/v1/stream?effect=blur&blur={blur}") as ws:
            message = ws.receive()
            assert message["type"] == "websocket.close" and message["code"] == 1008
            assert "blur must be in [0, 100]" in message["reason"]

    with pytest.raises(ImageTooLargeError, match=r"too large for webp .* ask for png"):
        encode_image(np.zeros((8, 17000, 3), np.uint8), "webp")
    assert encode_image(np.zeros((8, 17000, 3), np.uint8), "png")[:4] == b"\x89PNG"


def test_each_worker_admits_one_queue_of_connections(monkeypatch):
    """uvicorn counts connections per worker process: the limit it gets is one worker's."""
    import uvicorn

    import personseg.serve.app as app

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **options: seen.update(options))
    monkeypatch.setattr(app, "_check_port", lambda host, port: None)
    monkeypatch.setenv(app.SETTINGS_ENV, "")  # restored after the test (serve sets it)
    settings = ServeSettings(queue=5)
    app.serve(settings, workers=3)
    assert seen["workers"] == 3 and seen["limit_concurrency"] == 5 + 8
    app.serve(ServeSettings(), workers=3)  # no --queue: the most the queue admits
    assert seen["limit_concurrency"] == QUEUE_CEILING + 8
