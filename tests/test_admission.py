"""The serve admission rule (``personseg.serve.admission``): how many requests a worker admits
and the ``Retry-After`` it gives, from fake timings and a fake clock (no server, no load)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from personseg.cli import build_parser
from personseg.serve.admission import (
    EMA_WEIGHT,
    QUEUE_CEILING,
    QUEUE_FLOOR,
    SEED_SECONDS,
    Admission,
)


def measured(seconds: float, timeout: float = 30.0, **kw: float) -> Admission:
    """An admission whose estimate has settled on ``seconds`` per request."""
    rule = Admission(timeout, weight=1.0, **kw)
    rule.observe(seconds)
    return rule


def test_a_fresh_worker_admits_what_finishes_at_the_seed_rate():
    assert Admission(30.0).seconds_per_request == SEED_SECONDS
    assert Admission(30.0).limit == int(30.0 / SEED_SECONDS) == 30  # 16 clients: all admitted
    assert Admission(3.0).limit == QUEUE_FLOOR  # a short timeout still admits a burst
    assert Admission(3600.0).limit == QUEUE_CEILING  # a long one stays bounded


@pytest.mark.parametrize("seconds", [0.5, 0.75, 1.0, 1.3, 2.0, 3.0])
def test_the_admitted_requests_finish_within_the_timeout_at_the_measured_rate(seconds):
    rule = measured(seconds)
    assert QUEUE_FLOOR < rule.limit < QUEUE_CEILING  # neither bound applies here
    assert rule.limit * seconds <= 30.0 < (rule.limit + 1) * seconds


def test_the_estimate_is_a_moving_average_of_the_requests_served():
    rule = Admission(30.0, seed=1.0)
    rule.observe(2.0)
    assert rule.seconds_per_request == pytest.approx(1.0 + EMA_WEIGHT * (2.0 - 1.0))
    for _ in range(200):  # small photos: the limit grows to the ceiling
        rule.observe(0.05)
    assert rule.seconds_per_request == pytest.approx(0.05)
    assert rule.limit == QUEUE_CEILING
    for _ in range(200):  # slow ones: it shrinks, down to the floor at most
        rule.observe(10.0)
    assert rule.limit == QUEUE_FLOOR
    one_slow = Admission(30.0, seed=0.1)
    one_slow.observe(12.0)  # one 12 MP photo among small ones moves it, not all the way
    assert 1.0 < one_slow.seconds_per_request < 2.0 and one_slow.limit == 23


def test_requests_that_take_no_measurable_time_admit_the_ceiling():
    assert measured(0.0).limit == QUEUE_CEILING
    assert measured(1e-9).limit == QUEUE_CEILING


def test_a_fixed_queue_ignores_the_estimate_but_its_retry_after_does_not():
    rule = Admission(30.0, fixed=3)
    assert rule.limit == 3
    for seconds in (0.01, 100.0):
        rule.observe(seconds)
        assert rule.limit == 3
    assert measured(2.5, fixed=3).retry_after(3) == 3  # one request must finish: 2.5 s


def test_retry_after_is_the_wait_for_a_place_at_the_measured_rate():
    rule = measured(2.5, fixed=4)
    assert rule.retry_after(4) == 3  # full: one must finish, ceil(2.5)
    assert rule.retry_after(6) == 8  # three must finish: ceil(7.5)
    assert rule.retry_after(0) == 3  # (a timed-out request with room now) one request's time
    assert rule.retry_after(1000) == 30  # never more than the timeout
    assert measured(0.01).retry_after(QUEUE_CEILING) == 1  # whole seconds, 1 at least
    assert measured(0.4, timeout=0.5).retry_after(100) == 1


def test_the_serve_flag_keeps_its_name_and_defaults_to_the_measured_rate():
    args = build_parser().parse_args(["serve"])
    assert args.queue is None and args.timeout == 30.0
    assert build_parser().parse_args(["serve", "--queue", "8"]).queue == 8
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--queue", "0"])


def test_settings_bound_what_uvicorn_lets_in():
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from personseg.serve import ServeSettings

    assert ServeSettings().queue is None and ServeSettings().most_queued == QUEUE_CEILING
    assert ServeSettings(queue=5).most_queued == 5
    with pytest.raises(ValueError, match="--queue must be at least 1"):
        ServeSettings(queue=0)


def test_the_work_queue_times_each_job_and_refuses_beyond_the_limit():
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi import HTTPException

    from personseg.serve.limits import WorkQueue

    ticks = itertools.count(step=2.0)  # a fake clock: every job takes 2 s
    work = WorkQueue(Admission(30.0, weight=1.0), clock=lambda: next(ticks))
    try:
        assert work.limit == 30
        assert asyncio.run(work.run(lambda x: x + 1, 41)) == 42
        assert work.admission.seconds_per_request == 2.0 and work.limit == 15
        work.pending = 15  # fifteen admitted already (nothing runs: no real load)
        with pytest.raises(HTTPException) as busy:
            asyncio.run(work.run(lambda: None))
        assert busy.value.status_code == 503 and busy.value.headers == {"Retry-After": "2"}
        assert busy.value.detail == "busy: 15 requests are queued already; retry in 2 s"
        work.pending = 14
        assert asyncio.run(work.run(lambda: "admitted")) == "admitted"
    finally:
        work.pool.shutdown(wait=True)
