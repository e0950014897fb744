"""``personseg serve``: the HTTP API and the web page (``pip install 'personseg[serve]'``)."""

from __future__ import annotations

import argparse

from personseg.cli.common import (
    add_max_pixels,
    add_model,
    add_runtime,
    positive_int,
    quiet_flag,
    resolve_model,
)
from personseg.serve.admission import QUEUE_CEILING, QUEUE_FLOOR


def port(text: str) -> int:
    """An argparse type: a TCP port number."""
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        parents=quiet_flag(),
        help="HTTP API and web page: POST /v1/segment, WS /v1/stream, the page at /",
        description="Serve the model over HTTP: the API (POST /v1/segment, WS /v1/stream, "
        "GET /healthz, GET /v1/models, OpenAPI at /docs) and a web page at /.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8080, help="port (default 8080)")
    add_model(p)
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes, each with its model and its queue (default 1)",
    )
    p.add_argument(
        "--max-bytes",
        type=positive_int,
        default=20_000_000,
        metavar="N",
        help="largest request body in bytes (default 20_000_000: 20 MB; over it: 413)",
    )
    add_max_pixels(p)
    p.add_argument(
        "--queue",
        type=positive_int,
        default=None,
        metavar="N",
        help="requests admitted per worker, running or waiting (more: 503); default: as many "
        f"as finish within --timeout at the rate the worker measures, {QUEUE_FLOOR} to "
        f"{QUEUE_CEILING}",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a request may take from admission (default 30; then 503)",
    )
    add_runtime(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from personseg.serve import ServeSettings, serve
    except ImportError as err:
        raise ValueError(
            f"personseg serve needs the serve extra: pip install 'personseg[serve]' ({err})"
        ) from None

    settings = ServeSettings(
        model=str(resolve_model(args, args.model)),
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        refine=args.refine,
        input_size=args.input_size,
        threshold=args.threshold,
        subject=args.subject,
        min_area=args.min_area,
        max_bytes=args.max_bytes,
        max_pixels=args.max_pixels,
        queue=args.queue,
        timeout=args.timeout,
    )
    try:
        serve(settings, args.host, args.port, args.workers, "warning" if args.quiet else "info")
    except ModuleNotFoundError as err:  # uvicorn, imported when the server starts
        raise ValueError(
            f"personseg serve needs the serve extra: pip install 'personseg[serve]' ({err})"
        ) from None
    return 0
