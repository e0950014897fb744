"""Where an ONNX model's time goes: ONNX Runtime's own per-node profile at one input shape,
summed by operator type and by node (milliseconds per run, as personseg's runner sets the
session up: 2 threads unless told, idle threads sleeping).

    python benchmarks/experiments/onnx_profile.py \\
        src/personseg/weights/person-default-int8.onnx --shape 384 544
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np


def profile(path: str, shape: tuple[int, int], runs: int, threads: int) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.random.rand(1, 3, *shape).astype(np.float32)}
    for _ in range(runs):
        session.run(None, feed)
    trace = Path(session.end_profiling())
    events = [e for e in json.loads(trace.read_text()) if e.get("cat") == "Node"]
    trace.unlink()
    by_op: collections.Counter = collections.Counter()
    by_node: collections.Counter = collections.Counter()
    outputs = {}
    for e in events:
        if e["name"].endswith("_kernel_time"):
            ms = e["dur"] / 1000 / runs
            by_op[e["args"]["op_name"]] += ms
            by_node[e["name"].removesuffix("_kernel_time")] += ms
            outputs[e["name"].removesuffix("_kernel_time")] = e["args"].get("output_type_shape")
    return {
        "total_ms": sum(by_op.values()),
        "by_op": dict(by_op.most_common()),
        "top_nodes": [(n, ms, outputs[n]) for n, ms in by_node.most_common(15)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help=".onnx file")
    p.add_argument("--shape", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    r = profile(a.model, tuple(a.shape), a.runs, a.threads)
    print(f"{a.model} at {a.shape[0]}x{a.shape[1]}: {r['total_ms']:.2f} ms in the nodes")
    for op, ms in list(r["by_op"].items())[:10]:
        print(f"  {op:<22} {ms:6.2f} ms")
    print("  slowest nodes:")
    for name, ms, out in r["top_nodes"]:
        print(f"  {ms:6.3f} ms  {name[:40]:<40} {out}")


if __name__ == "__main__":
    main()
