"""``GET /``, the web page (static files inside the package); ``GET /v1/browser`` and
``GET /v1/browser/model.onnx``, the model the page runs itself in in-browser mode (the bundled
fast model, on ONNX Runtime Web from the static files); and ``GET /docs``, FastAPI's OpenAPI
page with Swagger UI from the ``swagger-ui-bundle-v2`` package: no CDN, like the page.

Every response carries the two headers that make the page cross-origin isolated (COOP
``same-origin``, COEP ``require-corp``), which WebAssembly threads need
(:func:`isolate`)."""

from __future__ import annotations

import mimetypes
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from personseg.inference.browser import browser_model

STATIC = Path(__file__).parent / "static"
# ES modules and WebAssembly need these types, whatever the system's mime.types says
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")

ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}

router = APIRouter()


async def isolate(request: Request, call_next: Any) -> Response:
    """HTTP middleware: the cross-origin isolation headers on every response."""
    response = await call_next(request)
    response.headers.update(ISOLATION)
    return response


@cache
def _browser() -> tuple[str, dict[str, Any]]:
    path, info = browser_model()
    return str(path), {**info, "model": "/v1/browser/model.onnx"}


def _browser_or_404() -> tuple[str, dict[str, Any]]:
    try:
        return _browser()
    except (FileNotFoundError, ValueError) as err:
        raise HTTPException(404, f"no model for in-browser mode: {err}") from None


@router.get("/v1/browser")
def browser() -> dict[str, Any]:  # plain def: the first call reads a checkpoint, off the loop
    """The model the page runs in in-browser mode (the bundled fast model): its ONNX file's
    address and the numbers its pre- and post-processing need."""
    return _browser_or_404()[1]


@router.get("/v1/browser/model.onnx", include_in_schema=False)
def browser_onnx() -> FileResponse:
    return FileResponse(_browser_or_404()[0], media_type="application/octet-stream")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title="personseg API",
        swagger_js_url="/swagger/swagger-ui-bundle.js",
        swagger_css_url="/swagger/swagger-ui.css",
        swagger_favicon_url="/swagger/favicon-32x32.png",
    )
