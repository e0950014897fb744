"""``WS /v1/stream``: binary JPEG frames in, processed frames out (the page's Live tab), the
maps smoothed from frame to frame."""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from personseg.inference.effects import parse_color
from personseg.inference.images import ImageError
from personseg.inference.segmenter import Segmenter
from personseg.inference.video import TemporalSmoother
from personseg.serve.limits import STATUS, ServeSettings, WorkQueue
from personseg.serve.photos import Effect, Subject, check_options, chosen_subjects, segment_bytes


def router(settings: ServeSettings, seg: Segmenter, work: WorkQueue) -> APIRouter:
    """The stream route on ``seg``, its work run in ``work``."""
    routes = APIRouter()

    @routes.websocket("/v1/stream")
    async def stream(
        ws: WebSocket,
        effect: Effect = Effect.blur,
        background: str | None = None,
        blur: float = 15.0,
        smoothing: float = 0.5,
        subject: Subject | None = None,
        min_area: float = 0.0,
        decontaminate: bool = True,
    ) -> None:
        """Binary image frames (JPEG) in, processed frames out (JPEG; PNG for a cut-out); a
        refused frame gets a JSON text message ``{"error": ..., "status": ...}`` instead."""
        await ws.accept()
        try:
            if not 0.0 <= blur <= 100.0:  # also refuses nan
                raise ValueError(f"blur must be in [0, 100], got {blur}")
            bg = parse_color(background) if background else None
            smoother = TemporalSmoother(smoothing)
            if not 0.0 <= min_area < 1.0:
                raise ValueError(f"min_area must be in [0, 1), got {min_area}")
            # one per connection: it follows this stream's subject from frame to frame
            subjects = chosen_subjects(seg, subject, min_area, track=True)
            check_options(effect.value, "jpeg" if effect.value != "cutout" else "png", bg)
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
                        settings.max_pixels, smoother, "the frame", subjects, decontaminate,
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

    return routes
