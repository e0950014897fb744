"""What a server admits: its settings (the model it runs and its limits), one bounded queue of
work per worker process, request bodies read up to ``max_bytes``, and the HTTP status of an
image the safe loader refused.

Every upload is untrusted: the body is read up to ``max_bytes`` (413 beyond; nothing is decoded
before), and images go through the safe loader (:mod:`personseg.inference.images`: 400
truncated or corrupt, 413 over ``max_pixels``, 415 not an image). The work of each worker
process runs in one thread behind a bounded queue: when ``queue`` requests are admitted already
the answer is 503 with ``Retry-After``, and a request not done within ``timeout`` seconds is a
503 too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from personseg.inference.effects import check_refine
from personseg.inference.images import (
    DEFAULT_MAX_PIXELS,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
)
from personseg.inference.memory import malloc_trim
from personseg.inference.segmenter import Segmenter

STATUS = {CorruptImageError: 400, ImageTooLargeError: 413, NotAnImageError: 415}
RETRY_AFTER_S = 1

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
