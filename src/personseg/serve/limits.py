"""What a server admits: its settings (the model it runs and its limits), one bounded queue of
work per worker process, request bodies read up to ``max_bytes``, and the HTTP status of an
image the safe loader refused.

Every upload is untrusted: the body is read up to ``max_bytes`` (413 beyond; nothing is decoded
before), and images go through the safe loader (:mod:`personseg.inference.images`: 400
truncated or corrupt, 413 over ``max_pixels``, 415 not an image). The work of each worker
process runs in one thread behind a bounded queue: by default it admits as many requests as
finish within ``timeout`` at the rate it measures (:class:`~personseg.serve.admission.Admission`);
``queue`` fixes the number instead. Beyond it the answer is 503 with a ``Retry-After`` from the
same estimate, and a request not done within ``timeout`` seconds is a 503 too.
"""

from __future__ import annotations

import asyncio
import threading
import time
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
from personseg.inference.subject import check_min_area, check_subject
from personseg.serve.admission import QUEUE_CEILING, Admission

STATUS = {CorruptImageError: 400, ImageTooLargeError: 413, NotAnImageError: 415}

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
    subject: str = "all"
    min_area: float = 0.0
    threshold: float | None = None
    max_bytes: int = 20_000_000  # one request's body
    max_pixels: int = DEFAULT_MAX_PIXELS
    # requests admitted (running or waiting) per worker process; None: sized by Admission
    queue: int | None = None
    timeout: float = 30.0  # seconds from admission to answer

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "queue"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.timeout <= 0:
            raise ValueError(f"--timeout must be positive, got {self.timeout}")
        check_refine(self.refine)
        check_subject(self.subject)
        check_min_area(self.min_area)

    @property
    def most_queued(self) -> int:
        """The most requests a worker process admits at once."""
        return QUEUE_CEILING if self.queue is None else self.queue

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
            subject=self.subject,
            min_area=self.min_area,
        )


class WorkQueue:
    """One thread for the CPU work of a worker process, admitting what ``admission`` allows;
    ``clock`` times each job for its estimate."""

    def __init__(
        self,
        admission: Admission,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.admission, self.timeout, self.clock = admission, admission.timeout, clock
        self.pending = 0
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="personseg-work")
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """The requests admitted at once now."""
        return self.admission.limit

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the work thread; 503 when the queue is full or time runs out."""
        with self._lock:
            limit = self.limit
            if self.pending >= limit:
                retry = self.admission.retry_after(self.pending)
                raise HTTPException(
                    503,
                    f"busy: {limit} requests are queued already; retry in {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            self.pending += 1
        future = self.pool.submit(self._job, fn, *args)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:
            with self._lock:
                retry = self.admission.retry_after(self.pending)
            raise HTTPException(
                503,
                f"timed out: no answer within {self.timeout:g} s; retry later",
                headers={"Retry-After": str(retry)},
            ) from None

    def _job(self, fn: Callable[..., T], *args: Any) -> T:
        start = self.clock()
        try:
            return fn(*args)
        finally:
            malloc_trim()  # a 12 MP photo's arrays would keep the worker's RSS higher
            with self._lock:
                self.admission.observe(self.clock() - start)

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
