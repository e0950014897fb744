"""The HTTP API and the web page (FastAPI), for photos sent by anyone who can reach the server.

Endpoints:

- ``POST /v1/segment``: an image (multipart field ``image``, or the raw request body) → the
  effect at the photo's size (default a cut-out: RGBA PNG), with a ``Server-Timing`` header;
- ``WS /v1/stream``: binary JPEG frames in, processed frames out (the page's Live tab);
- ``GET /healthz``, ``GET /v1/models``; ``GET /`` the page (static files inside the package);
  FastAPI's OpenAPI page at ``/docs`` (Swagger UI from the ``swagger-ui-bundle-v2`` package:
  no CDN, like the page).

Every upload is untrusted: the body is read up to ``max_bytes`` (413 beyond; nothing is decoded
before), multipart parts stay in memory (no temporary files; a client's file name is never
used), and images go through the safe loader (:mod:`personseg.inference.images`: 400 truncated
or corrupt, 413 over ``max_pixels``, 415 not an image). The work of each worker process runs in
one thread behind a bounded queue: when ``queue`` requests are admitted already the answer is
503 with ``Retry-After``, and a request not done within ``timeout`` seconds is a 503 too.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import FormParser, parse_options_header
from swagger_ui_bundle import swagger_ui_path

from personseg._version import __version__
from personseg.inference.effects import EFFECTS, apply_effect, check_refine, parse_color
from personseg.inference.images import (
    DEFAULT_MAX_PIXELS,
    FORMATS,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    decode_image,
    encode_image,
)
from personseg.inference.memory import malloc_trim
from personseg.inference.segmenter import Segmenter
from personseg.inference.video import TemporalSmoother

log = logging.getLogger("personseg")

STATIC = Path(__file__).parent / "static"
SETTINGS_ENV = "PERSONSEG_SERVE_SETTINGS"  # how `serve --workers N` hands settings to workers
STATUS = {CorruptImageError: 400, ImageTooLargeError: 413, NotAnImageError: 415}
RETRY_AFTER_S = 1

Effect = Enum("Effect", {e: e for e in EFFECTS}, type=str)  # type: ignore[misc]
Format = Enum("Format", {f: f for f in FORMATS}, type=str)  # type: ignore[misc]
T = TypeVar("T")


@dataclass(frozen=True)
class ServeSettings:
    """The model a server runs and its limits; ``queue`` and the work thread are per worker
    process. Checked at construction."""

    model: str = "default"
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    refine: str = "guided"
    input_size: int | None = None
    threshold: float | None = None
    max_bytes: int = 20_000_000  # one request's body
    max_pixels: int = DEFAULT_MAX_PIXELS
    queue: int = 8  # requests admitted (running or waiting) per worker process
    timeout: float = 30.0  # seconds from admission to answer

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.timeout <= 0:
            raise ValueError(f"--timeout must be positive, got {self.timeout}")
        check_refine(self.refine)

    def load_model(self) -> Segmenter:
        """The segmenter these settings describe."""
        return Segmenter.load(
            self.model,
            self.backend,
            self.device,
            self.precision,
            refine=self.refine,
            input_size=self.input_size,  # checked against the model's size divisor
            threshold=self.threshold,
        )


class WorkQueue:
    """One thread for the CPU work of a worker process, admitting at most ``limit`` jobs."""

    def __init__(self, limit: int, timeout: float):
        self.limit, self.timeout, self.pending = limit, timeout, 0
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="personseg-work")
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the work thread; 503 when the queue is full or time runs out."""
        with self._lock:
            if self.pending >= self.limit:
                raise HTTPException(
                    503,
                    f"busy: {self.limit} requests are queued already; retry in a second",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            self.pending += 1
        future = self.pool.submit(self._job, fn, *args)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:
            raise HTTPException(
                503,
                f"timed out: no answer within {self.timeout:g} s; retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None

    def _job(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        finally:
            malloc_trim()  # a 12 MP photo's arrays would keep the worker's RSS higher

    def _release(self, _: Future) -> None:
        with self._lock:
            self.pending -= 1


def image_error(err: ImageError) -> HTTPException:
    """The HTTP error of an image the safe loader refused."""
    return HTTPException(STATUS.get(type(err), 400), str(err))


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"upload of {int(declared):,} bytes is over {limit:,} (--max-bytes)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"upload is over {limit:,} bytes (--max-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def form_parts(body: bytes, content_type: str) -> dict[str, tuple[bytes, bool]]:
    """The parts of a multipart/form-data body by field name: (content, is a file), parsed in
    memory (the body is bounded already; nothing is written to disk)."""
    _, params = parse_options_header(content_type)
    if not params.get(b"boundary"):
        raise HTTPException(400, "multipart/form-data without a boundary")
    parts: dict[str, tuple[bytes, bool]] = {}

    def on_field(field: Any) -> None:
        parts[field.field_name.decode(errors="replace")] = (field.value or b"", False)

    def on_file(file: Any) -> None:
        file.file_object.seek(0)
        parts[file.field_name.decode(errors="replace")] = (file.file_object.read(), True)

    config = {"MAX_MEMORY_FILE_SIZE": len(body) + 1, "MAX_FIELDS": 16}
    parser = FormParser(
        "multipart/form-data", on_field, on_file, boundary=params[b"boundary"], config=config
    )
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as err:
        raise HTTPException(400, f"malformed multipart/form-data body ({err})") from None
    return parts


def upload(
    body: bytes, content_type: str, colour: str | None
) -> tuple[bytes, bytes | tuple[int, int, int] | None]:
    """(image bytes, background: image bytes, an (R, G, B) colour or None) of a request: a form
    with ``image`` and an optional ``background`` (an image file or a colour), or a raw body."""
    background: bytes | tuple[int, int, int] | None = None
    if content_type.lower().startswith("multipart/form-data"):
        parts = form_parts(body, content_type)
        if "image" not in parts:
            raise HTTPException(400, "the form has no 'image' field (curl -F image=@photo.jpg)")
        body = parts["image"][0]
        data, is_file = parts.get("background", (b"", False))
        if is_file and data:
            background = data
        elif data:
            colour = data.decode(errors="replace")
    if not body:
        raise HTTPException(400, "empty body: send the image as the request body or as 'image'")
    if colour:
        try:
            background = parse_color(colour)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
    return body, background


def _ms(t: list[float], names: tuple[str, ...]) -> dict[str, float]:
    return {n: 1000 * (b - a) for n, a, b in zip(names, t, t[1:], strict=False)}


def segment_bytes(
    seg: Segmenter,
    data: bytes,
    background: bytes | tuple[int, int, int] | None,
    effect: str,
    fmt: str,
    blur: float,
    max_pixels: int,
    smoother: TemporalSmoother | None = None,
    name: str = "the upload",
) -> tuple[bytes, tuple[int, int], dict[str, float]]:
    """Decode, segment, apply the effect and encode: (bytes, (W, H), milliseconds by step).
    ``smoother`` smooths the maps of a stream's frames; ``name`` is the image in messages."""
    t = [time.perf_counter()]
    image = decode_image(data, max_pixels, name)
    if isinstance(background, bytes):
        background = decode_image(background, max_pixels, "the background")
    t.append(time.perf_counter())
    prob = seg.predict(image)
    if smoother is not None:
        prob = smoother(image, prob)
    t.append(time.perf_counter())
    out = apply_effect(image, prob, effect, seg.threshold, blur, background)
    t.append(time.perf_counter())
    encoded = encode_image(out, fmt)
    t.append(time.perf_counter())
    size = (image.shape[1], image.shape[0])
    return encoded, size, _ms(t, ("decode", "model", "effect", "encode"))


def _check_options(effect: str, fmt: str, background: object) -> None:
    if effect == "cutout" and fmt == "jpeg":
        raise HTTPException(422, "JPEG has no transparency: ask for the cut-out as png or webp")
    if effect == "replace" and background is None:
        raise HTTPException(
            422, "effect=replace needs a background: ?background=%23RRGGBB or a 'background' file"
        )


UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "description": "the photo as multipart field `image` (with an optional `background` "
        "image or colour), or as the raw body",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "background": {"type": "string", "format": "binary"},
                    },
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def create_app(
    settings: ServeSettings | None = None, segmenter: Segmenter | None = None
) -> FastAPI:
    """The app: ``segmenter`` (default: loaded from ``settings``) behind the API and the page.

    The segmenter is never changed; a request's ``input_size`` runs on a shallow copy.
    """
    settings = settings or ServeSettings()
    seg = segmenter or settings.load_model()
    work = WorkQueue(settings.queue, settings.timeout)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        work.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="personseg",
        version=__version__,
        description="Person segmentation: cut-outs, background blur and replacement.",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's copy of Swagger UI, not a CDN
        redoc_url=None,
    )
    app.state.settings, app.state.segmenter, app.state.work = settings, seg, work

    def sized(input_size: int | None) -> Segmenter:
        if input_size is None or input_size == seg.input_size:
            return seg
        other = copy.copy(seg)
        try:
            other.input_size = input_size
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
        return other

    @app.post(
        "/v1/segment",
        openapi_extra=UPLOAD_DOC,
        response_class=Response,
        responses={
            200: {"content": {m: {} for m in FORMATS.values()}, "description": "the result"},
            400: {"description": "empty, truncated or corrupt image, malformed form"},
            413: {"description": "body over --max-bytes or image over --max-pixels"},
            415: {"description": "not an image"},
            422: {"description": "bad parameters"},
            503: {"description": "queue full or timed out: retry after Retry-After seconds"},
        },
    )
    async def segment(
        request: Request,
        effect: Annotated[Effect, Query(description="what to return")] = Effect.cutout,
        background: Annotated[str | None, Query(description="replace: #RRGGBB")] = None,
        format: Annotated[Format, Query(description="png, webp or jpeg")] = Format.png,
        input_size: Annotated[int | None, Query(ge=64, le=2048, description="model input")] = None,
        blur: Annotated[float, Query(ge=0, le=100, description="blur strength")] = 15.0,
    ) -> Response:
        """One photo in, the effect out at the photo's size (a cut-out is an RGBA image)."""
        t0 = time.perf_counter()
        body = await read_body(request, settings.max_bytes)
        image, bg = upload(body, request.headers.get("content-type", ""), background)
        _check_options(effect.value, format.value, bg)
        model = sized(input_size)
        try:
            encoded, (w, h), ms = await work.run(
                segment_bytes, model, image, bg, effect.value, format.value, blur,
                settings.max_pixels,
            )  # fmt: skip
        except ImageError as err:
            raise image_error(err) from None
        ms["total"] = 1000 * (time.perf_counter() - t0)
        timing = ", ".join(f"{k};dur={v:.1f}" for k, v in ms.items())
        headers = {"Server-Timing": timing, "X-Image-Size": f"{w}x{h}", "Cache-Control": "no-store"}
        return Response(encoded, media_type=FORMATS[format.value], headers=headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Up, and how full this worker's queue is."""
        return {"status": "ok", "queued": work.pending, "queue": work.limit}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The model this server runs, what it can return, and its limits."""
        return {
            "models": [
                {
                    "name": settings.model,
                    "architecture": seg.spec.name,
                    "backend": seg.backend,
                    "input_size": seg.input_size,
                    "threshold": seg.threshold,
                    "refine": seg.refine,
                }
            ],
            "effects": list(EFFECTS),
            "formats": list(FORMATS),
            "limits": {
                "max_bytes": settings.max_bytes,
                "max_pixels": settings.max_pixels,
                "queue": settings.queue,
                "timeout_s": settings.timeout,
            },
            "personseg": __version__,
        }

    @app.websocket("/v1/stream")
    async def stream(
        ws: WebSocket,
        effect: Effect = Effect.blur,
        background: str | None = None,
        blur: float = 15.0,
        smoothing: float = 0.5,
    ) -> None:
        """Binary image frames (JPEG) in, processed frames out (JPEG; PNG for a cut-out); a
        refused frame gets a JSON text message ``{"error": ..., "status": ...}`` instead."""
        await ws.accept()
        try:
            if not 0.0 <= blur <= 100.0:  # also refuses nan
                raise ValueError(f"blur must be in [0, 100], got {blur}")
            bg = parse_color(background) if background else None
            smoother = TemporalSmoother(smoothing)
            _check_options(effect.value, "jpeg" if effect.value != "cutout" else "png", bg)
        except (ValueError, HTTPException) as err:
            await ws.close(code=1008, reason=str(getattr(err, "detail", err))[:120])
            return
        fmt = "png" if effect.value == "cutout" else "jpeg"
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = message.get("bytes")
                try:
                    if not frame:
                        raise HTTPException(400, "send each frame as a binary message (JPEG)")
                    if len(frame) > settings.max_bytes:
                        raise HTTPException(413, f"frame over {settings.max_bytes:,} bytes")
                    encoded, _, _ = await work.run(
                        segment_bytes, seg, frame, bg, effect.value, fmt, blur,
                        settings.max_pixels, smoother, "the frame",
                    )  # fmt: skip
                except ImageError as err:
                    await ws.send_text(
                        json.dumps({"error": str(err), "status": STATUS.get(type(err), 400)})
                    )
                except HTTPException as err:
                    await ws.send_text(json.dumps({"error": err.detail, "status": err.status_code}))
                else:
                    await ws.send_bytes(encoded)
        except WebSocketDisconnect:
            return

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="personseg API",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    return app


def app_from_env() -> FastAPI:
    """The app of a worker process started by :func:`serve` with several workers."""
    return create_app(ServeSettings(**json.loads(os.environ[SETTINGS_ENV])))


def _check_port(host: str, port: int) -> None:
    """Fail in one line (OSError) when the address cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise OSError(f"cannot listen on {host}:{port}: {err.strerror}") from None


def serve(
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Run the server until interrupted; each of ``workers`` processes loads the model."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    _check_port(host, port)
    segmenter = settings.load_model()  # a bad model or option fails here, in one line
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "ws_max_size": settings.max_bytes,
        "timeout_graceful_shutdown": 5,
        # connections beyond what the queue can hold get a 503 before any body is read;
        # uvicorn counts them in each worker process, so this is one worker's share
        "limit_concurrency": settings.queue + 8,
    }
    log.info(
        "personseg serve: http://%s:%d/ (%d worker(s); %s on %s, input %d)",
        *(host, port, workers, segmenter.spec.name, segmenter.backend, segmenter.input_size),
    )
    if workers == 1:
        uvicorn.run(create_app(settings, segmenter), **options)
        return
    del segmenter
    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
    uvicorn.run(f"{__name__}:app_from_env", factory=True, workers=workers, **options)
