"""Load on a real ``personseg serve`` on 127.0.0.1: concurrent clients posting photos of mixed
sizes (256² to 12 MP, made from a real photo), bounded in count and in time.

Reports requests served, clean 503s (queue full or timed out, with Retry-After; the client
waits that long before its next request), other failures (any other status, a dropped
connection, a client timeout), p50 / p95 latency of the served requests, throughput, the
server's memory (RSS of the supervisor and every worker process) after a warm-up and after the
run, and whether the server's log holds a traceback.

    python benchmarks/serve_load.py --clients 16 --requests 50 --workers 2 --json serve_load.json

Without ``--queue`` the server sizes its own queue (its default); ``--sizes`` keeps some of the
sizes (in their proportions), ``--effect`` asks for another effect than the cut-out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine

# (width, height) and how many of every 10 requests use it: mostly phone-web sizes, a few
# full 12 MP camera photos
SIZES = [((256, 256), 3), ((640, 480), 3), ((1280, 960), 2), ((2000, 1500), 1), ((4000, 3000), 1)]


def photos(path: Path) -> list[bytes]:
    """JPEG bytes (quality 90) of the photo at every size of SIZES, cropped to the aspect."""
    rgb = cv2.imread(str(path))
    out = []
    for (w, h), _ in SIZES:
        scale = max(w / rgb.shape[1], h / rgb.shape[0])
        big = cv2.resize(rgb, (round(rgb.shape[1] * scale) + 1, round(rgb.shape[0] * scale) + 1))
        ok, buf = cv2.imencode(".jpg", big[:h, :w], [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        out.append(buf.tobytes())
    return out


def schedule(n: int, kept: list[int] | None = None) -> list[int]:
    """Size indices of ``n`` requests in the SIZES proportions (of the ``kept`` indices only,
    when given), interleaved."""
    pattern = [i for i, (_, k) in enumerate(SIZES) for _ in range(k) if kept is None or i in kept]
    return [pattern[(j * 7) % len(pattern)] for j in range(n)]  # 7 is coprime with 10


def rss_mb(pid: int) -> dict[int, float]:
    """Resident memory in MB of ``pid`` and of each of its descendants, by process id."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            kb = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            out[p] = kb / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return out


def request(
    conn: http.client.HTTPConnection, body: bytes, effect: str
) -> tuple[int, dict[str, str], bytes]:
    conn.request(
        "POST", f"/v1/segment?effect={effect}", body=body, headers={"Content-Type": "image/jpeg"}
    )
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def client(
    port: int,
    bodies: list[bytes],
    order: list[int],
    deadline: float,
    results: list,
    lock,
    effect: str = "cutout",
) -> None:
    """One client: its requests one after another on a keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in order:
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        try:
            status, headers, _ = request(conn, bodies[i], effect)
        except (OSError, http.client.HTTPException) as err:
            status, headers = f"error: {type(err).__name__}", {}
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        with lock:
            results.append((i, status, time.perf_counter() - t0, headers.get("retry-after")))
        if status == 503:
            time.sleep(float(headers.get("retry-after", 1)))
    conn.close()


def wait_up(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not start")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=50, help="per client")
    p.add_argument("--workers", type=int, default=2, help="server worker processes")
    p.add_argument(
        "--queue", type=int, help="server queue per worker (default: the server's, sized by it)"
    )
    p.add_argument("--effect", default="cutout", help="what each request asks for")
    p.add_argument(
        "--sizes",
        help="comma-separated WxH of SIZES to send, e.g. 256x256,640x480 (default: all)",
    )
    p.add_argument("--backend", default="onnx")
    p.add_argument("--max-seconds", type=float, default=900, help="no new request after this")
    p.add_argument("--photo", type=Path, help="default: matplotlib's portrait photo")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    names = [f"{w}x{h}" for (w, h), _ in SIZES]
    if a.sizes and not set(a.sizes.split(",")) <= set(names):
        p.error(f"--sizes takes some of {','.join(names)}")
    kept = None if a.sizes is None else [names.index(x) for x in a.sizes.split(",")]
    if a.photo is None:
        from personseg.inference.run import sample_image

        a.photo = sample_image()
    bodies = photos(a.photo)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = Path(tempfile.mkdtemp()) / "server.log"
    cmd = [sys.executable, "-m", "personseg", "serve", "--port", str(port), "--backend", a.backend]
    cmd += ["--workers", str(a.workers)] + (
        ["--queue", str(a.queue)] if a.queue is not None else []
    )
    with log_path.open("w") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, server)
        # warm-up: every size on several connections, so that every worker has seen each
        warm: list = []
        lock = threading.Lock()
        threads = [
            threading.Thread(
                target=client,
                args=(port, bodies, kept or list(range(len(SIZES))), 1e18, warm, lock, a.effect),
            )
            for _ in range(2 * a.workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1)
        rss_warm = rss_mb(server.pid)
        results: list = []
        peak = [sum(rss_warm.values())]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak[0] = max(peak[0], sum(rss_mb(server.pid).values()))

        sampler = threading.Thread(target=sample)
        sampler.start()
        deadline = time.monotonic() + a.max_seconds
        t0 = time.perf_counter()
        order = schedule(a.requests, kept)
        threads = [
            threading.Thread(
                target=client,
                args=(port, bodies, order[c:] + order[:c], deadline, results, lock, a.effect),
            )
            for c in range(a.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
        time.sleep(1)
        rss_after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    log_text = log_path.read_text()
    statuses = Counter(str(r[1]) for r in results)
    served = [r for r in results if r[1] == 200]
    lat = np.array([r[2] for r in served]) * 1000
    per_size = {
        f"{w}x{h}": {
            "served": int(sum(1 for r in served if r[0] == i)),
            "p50_ms": float(np.median([r[2] * 1000 for r in served if r[0] == i] or [np.nan])),
        }
        for i, ((w, h), _) in enumerate(SIZES)
    }
    report = {
        "date": str(date.today()),
        "machine": machine(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
        "server": " ".join(cmd[1:]),
        "clients": a.clients,
        "effect": a.effect,
        "requests_per_client": a.requests,
        "requests_sent": len(results),
        "served_200": len(served),
        "clean_503": int(sum(1 for r in results if r[1] == 503 and r[3])),
        "other_failures": {k: v for k, v in statuses.items() if k not in ("200", "503")},
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p95_ms": float(np.percentile(lat, 95)) if len(lat) else None,
        "throughput_per_s": len(served) / wall,
        "wall_s": wall,
        "per_size": per_size,
        "rss_mb_after_warmup": sum(rss_warm.values()),
        "rss_mb_after_run": sum(rss_after.values()),
        "rss_mb_peak": peak[0],
        "rss_mb_by_process": {  # the first is the supervisor, then the workers
            str(pid): [round(rss_warm[pid], 1), round(rss_after.get(pid, 0.0), 1)]
            for pid in rss_warm
        },
        "server_tracebacks": log_text.count("Traceback"),
        "server_5xx_other_than_503": sum(
            1 for line in log_text.splitlines() if '" 5' in line and '" 503' not in line
        ),
    }
    print(json.dumps(report, indent=2))
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    log_path.unlink()


if __name__ == "__main__":
    main()
