"""The HTTP API and the web page (FastAPI), for photos sent by anyone who can reach the server.

Endpoints, one module of routes each (assembled by :func:`create_app`):

- ``POST /v1/segment`` (:mod:`.photos`): an image (multipart field ``image``, or the raw request
  body) → the effect at the photo's size (default a cut-out: RGBA PNG), with a ``Server-Timing``
  header;
- ``WS /v1/stream`` (:mod:`.stream`): binary JPEG frames in, processed frames out (the page's
  Live tab);
- ``GET /healthz``, ``GET /v1/models`` (:mod:`.info`); ``GET /`` the page (static files inside
  the package) and FastAPI's OpenAPI page at ``/docs`` (:mod:`.pages`; Swagger UI from the
  ``swagger-ui-bundle-v2`` package: no CDN, like the page).

Every upload is untrusted, and each worker process admits a bounded queue of work
(:mod:`.limits`: 413 over ``max_bytes`` or ``max_pixels``, 400 / 415 for what is not a readable
image, 503 with ``Retry-After`` when the queue is full or time runs out; the queue admits what
finishes within ``timeout`` at the measured rate, unless ``queue`` fixes it).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from personseg._version import __version__
from personseg.inference.segmenter import Segmenter
from personseg.serve import info, pages, photos, stream
from personseg.serve.limits import Admission, ServeSettings, WorkQueue

log = logging.getLogger("personseg")

SETTINGS_ENV = "PERSONSEG_SERVE_SETTINGS"  # how `serve --workers N` hands settings to workers


def create_app(
    settings: ServeSettings | None = None, segmenter: Segmenter | None = None
) -> FastAPI:
    """The app: ``segmenter`` (default: loaded from ``settings``) behind the API and the page.

    The segmenter is never changed; a request's ``input_size`` runs on a shallow copy.
    """
    settings = settings or ServeSettings()
    seg = segmenter or settings.load_model()
    work = WorkQueue(Admission(settings.timeout, settings.queue))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        work.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="personseg",
        version=__version__,
        description="Person segmentation: cut-outs, background blur and replacement.",
        lifespan=lifespan,
        docs_url=None,  # served by pages.py from the package's copy of Swagger UI, not a CDN
        redoc_url=None,
    )
    app.state.settings, app.state.segmenter, app.state.work = settings, seg, work
    app.include_router(photos.router(settings, seg, work))
    app.include_router(info.router(settings, seg, work))
    app.include_router(stream.router(settings, seg, work))
    app.include_router(pages.router)
    app.middleware("http")(pages.isolate)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
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
        "limit_concurrency": settings.most_queued + 8,
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
