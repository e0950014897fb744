"""``GET /healthz`` and ``GET /v1/models``: whether a worker is up and how full its queue is;
the model it runs, what it can return, and its limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from personseg._version import __version__
from personseg.inference.effects import EFFECTS
from personseg.inference.images import FORMATS
from personseg.inference.segmenter import Segmenter
from personseg.serve.limits import ServeSettings, WorkQueue


def router(settings: ServeSettings, seg: Segmenter, work: WorkQueue) -> APIRouter:
    """The health and model routes of a server running ``seg``."""
    routes = APIRouter()

    @routes.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Up, how full this worker's queue is, how many it admits now, and the seconds a
        request takes (the moving average the queue is sized by)."""
        return {
            "status": "ok",
            "queued": work.pending,
            "queue": work.limit,
            "seconds_per_request": round(work.admission.seconds_per_request, 4),
        }

    @routes.get("/v1/models")
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
                "queue": work.limit,  # this worker's, now
                "queue_fixed": settings.queue is not None,  # else sized from the measured rate
                "timeout_s": settings.timeout,
            },
            "personseg": __version__,
        }

    return routes
