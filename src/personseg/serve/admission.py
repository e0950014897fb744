"""How many requests one worker process admits: as many as finish within the request timeout at
the rate it measures, or a fixed number (``--queue``).

No web framework here: the CLI reads the defaults for its help without the ``serve`` extra.
"""

from __future__ import annotations

import math

SEED_SECONDS = 1.0  # per request, until some are measured (a 12 MP cut-out: ~1.3 s on 2 cores)
EMA_WEIGHT = 0.1  # of each request's seconds in the moving average
QUEUE_FLOOR = 8  # admitted whatever the estimate says: a burst of clients is not refused at start
QUEUE_CEILING = 64  # admitted at most: each holds its upload (up to --max-bytes) while it waits


class Admission:
    """How many requests one worker admits (running or waiting): ``fixed``, or as many as
    finish within ``timeout`` at the measured rate, ``floor`` to ``ceiling``.

    The rate is an exponential moving average of the seconds each request took in the work
    thread (``weight`` for the newest), starting from ``seed``. The work thread runs one job at
    a time, so the last of ``limit`` admitted requests is answered after about ``limit`` times
    that average.
    """

    def __init__(
        self,
        timeout: float,
        fixed: int | None = None,
        seed: float = SEED_SECONDS,
        weight: float = EMA_WEIGHT,
        floor: int = QUEUE_FLOOR,
        ceiling: int = QUEUE_CEILING,
    ):
        self.timeout, self.fixed, self.weight = timeout, fixed, weight
        self.floor, self.ceiling = floor, ceiling
        self.seconds_per_request = seed

    def observe(self, seconds: float) -> None:
        """One request took ``seconds`` of work."""
        self.seconds_per_request += self.weight * (seconds - self.seconds_per_request)

    @property
    def limit(self) -> int:
        """The requests admitted at once now."""
        if self.fixed is not None:
            return self.fixed
        per = self.seconds_per_request
        fits = self.ceiling if per <= 0 else int(self.timeout / per)
        return min(max(fits, self.floor), self.ceiling)

    def retry_after(self, pending: int) -> int:
        """Whole seconds until, at the measured rate, a request would be admitted again with
        ``pending`` admitted now: 1 at least, the timeout at most."""
        waiting_for = max(pending - self.limit + 1, 1)  # requests that must finish first
        seconds = math.ceil(waiting_for * self.seconds_per_request)
        return min(max(seconds, 1), max(math.ceil(self.timeout), 1))
