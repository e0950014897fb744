"""``POST /v1/segment``: one photo in (multipart field ``image``, or the raw request body), the
effect out at the photo's size (default a cut-out: RGBA PNG), with a ``Server-Timing`` header;
and the decode → segment → effect → encode step that the live stream shares.

Multipart parts stay in memory (no temporary files; a client's file name is never used).
"""

from __future__ import annotations

import copy
import time
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import FormParser, parse_options_header

from personseg.inference.effects import EFFECTS, apply_effect, parse_color
from personseg.inference.images import FORMATS, ImageError, decode_image, encode_image
from personseg.inference.segmenter import Segmenter
from personseg.inference.subject import SUBJECTS, SubjectFilter, chosen
from personseg.inference.video import TemporalSmoother
from personseg.serve.limits import ServeSettings, WorkQueue, image_error, read_body

Effect = Enum("Effect", {e: e for e in EFFECTS}, type=str)  # type: ignore[misc]
Format = Enum("Format", {f: f for f in FORMATS}, type=str)  # type: ignore[misc]
Subject = Enum("Subject", {s: s for s in SUBJECTS}, type=str)  # type: ignore[misc]
SUBJECT_DOC = "all: every person; main: the photo's subject only (default: the server's)"
DECONTAMINATE_DOC = "cutout, replace: the person's own colours in the soft edge (no halo)"
MIN_AREA_DOC = "drop person regions under this share of the photo (default: the server's)"


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
    subjects: SubjectFilter | None = None,
    decontaminate: bool = True,
) -> tuple[bytes, tuple[int, int], dict[str, float]]:
    """Decode, segment, apply the effect and encode: (bytes, (W, H), milliseconds by step).
    ``smoother`` smooths the maps of a stream's frames; ``name`` is the image in messages;
    ``subjects`` which person regions to keep (the segmenter's own when None);
    ``decontaminate``: the person's own colours in a cut-out's or replacement's soft edge."""
    t = [time.perf_counter()]
    image = decode_image(data, max_pixels, name)
    if isinstance(background, bytes):
        background = decode_image(background, max_pixels, "the background")
    t.append(time.perf_counter())
    prob = seg.predict(image, **({"subjects": subjects} if subjects is not None else {}))
    if smoother is not None:
        prob = smoother(image, prob)
    t.append(time.perf_counter())
    out = apply_effect(image, prob, effect, seg.threshold, blur, background, decontaminate)
    t.append(time.perf_counter())
    encoded = encode_image(out, fmt)
    t.append(time.perf_counter())
    size = (image.shape[1], image.shape[0])
    return encoded, size, _ms(t, ("decode", "model", "effect", "encode"))


def check_options(effect: str, fmt: str, background: object) -> None:
    """422 for an effect and format that do not go together, or a replacement without a
    background."""
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


def chosen_subjects(
    seg: Segmenter, subject: Subject | None, min_area: float, track: bool = False
) -> SubjectFilter | None:
    """A request's choice of person regions: its ``subject`` and ``min_area``, else the
    server's own (``--subject``, ``--min-area``); ``track`` follows a stream's subject from
    frame to frame. None when every region is kept as the server keeps them."""
    if subject is None and min_area == 0 and not track:
        return None
    name = subject.value if subject is not None else None
    return chosen(getattr(seg, "subjects", None), name, min_area, track)


def _sized(seg: Segmenter, input_size: int | None) -> Segmenter:
    """``seg``, or a shallow copy of it at another input size (422 if the model refuses it)."""
    if input_size is None or input_size == seg.input_size:
        return seg
    other = copy.copy(seg)
    try:
        other.input_size = input_size
    except ValueError as err:
        raise HTTPException(422, str(err)) from None
    return other


def router(settings: ServeSettings, seg: Segmenter, work: WorkQueue) -> APIRouter:
    """The photo route on ``seg``, its work run in ``work``."""
    routes = APIRouter()

    @routes.post(
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
        subject: Annotated[Subject | None, Query(description=SUBJECT_DOC)] = None,
        min_area: Annotated[float, Query(ge=0, lt=1, description=MIN_AREA_DOC)] = 0.0,
        decontaminate: Annotated[bool, Query(description=DECONTAMINATE_DOC)] = True,
    ) -> Response:
        """One photo in, the effect out at the photo's size (a cut-out is an RGBA image)."""
        t0 = time.perf_counter()
        body = await read_body(request, settings.max_bytes)
        image, bg = upload(body, request.headers.get("content-type", ""), background)
        check_options(effect.value, format.value, bg)
        model = _sized(seg, input_size)
        subjects = chosen_subjects(seg, subject, min_area)
        try:
            encoded, (w, h), ms = await work.run(
                segment_bytes, model, image, bg, effect.value, format.value, blur,
                settings.max_pixels, None, "the upload", subjects, decontaminate,
            )  # fmt: skip
        except ImageError as err:
            raise image_error(err) from None
        ms["total"] = 1000 * (time.perf_counter() - t0)
        timing = ", ".join(f"{k};dur={v:.1f}" for k, v in ms.items())
        headers = {"Server-Timing": timing, "X-Image-Size": f"{w}x{h}", "Cache-Control": "no-store"}
        return Response(encoded, media_type=FORMATS[format.value], headers=headers)

    return routes
