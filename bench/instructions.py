"""The 202 path and the reference handler by instructions per request, which a drifting VM cannot move.

Throughput on a shared VM changes by 2–4× within minutes (docs/benchmarks.md,
2026-12-03), so a ratio of two req/s figures can measure the weather. This
runs each server (``bench/reference_app.py`` and ``bench/ingest_only_app.py``)
under ``valgrind --tool=callgrind``, loads it with wrk for a short and a long
window, and divides the difference in instructions by the difference in
requests: the user-space instructions one more request costs, start-up
excluded, every thread included (the 202 path's queue consumer too). The
kernel's share (the socket calls, the same for both) is not counted, so this
ratio is lower than the throughput ratio, which includes it.

    .venv/bin/python -m bench.instructions        # ~2 minutes; needs valgrind and wrk

Prints a Markdown table. Valgrind runs the threads one at a time, so this
measures work, not how the threads share the GIL.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench import payloads
from bench.loadgen import Load, run_wrk
from bench.procs import ServerProcess, free_port

SERVERS = {"reference": "bench.reference_app", "202-path": "bench.ingest_only_app"}
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


@dataclasses.dataclass(frozen=True)
class Count:
    requests: int
    instructions: int


def count(module: str, duration_s: float, work_dir: Path) -> Count:
    """Requests answered and instructions run by one server process loaded for ``duration_s``."""
    port = free_port()
    log_path = work_dir / f"{module}-{duration_s:.0f}.log"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        module,
        "--port",
        str(port),
    ]
    # A fixed hash seed: dict and set probing, and so the count, are the same every run.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    server = ServerProcess(argv, env, port, log_path, cpus=None)
    try:
        server.wait_ready(timeout_s=120)
        load = Load(payloads.single_event_body(), 1, connections=8, threads=1, duration_s=duration_s)
        result = run_wrk(server.url, load, work_dir)
    finally:
        server.stop(timeout_s=60)
    found = _COLLECTED.findall(log_path.read_text())
    if not found:
        raise RuntimeError(f"no instruction count in {log_path}")
    return Count(result.ok_responses, int(found[-1]))


def per_request(module: str, short_s: float, long_s: float, work_dir: Path) -> float:
    """Instructions per request, from the difference of a short and a long run."""
    short = count(module, short_s, work_dir)
    long = count(module, long_s, work_dir)
    if long.requests <= short.requests:
        raise RuntimeError(f"{module}: the long run answered no more requests than the short one")
    return (long.instructions - short.instructions) / (long.requests - short.requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=4.0, help="seconds of load in the short run (default 4)")
    parser.add_argument("--long", type=float, default=16.0, help="seconds of load in the long run (default 16)")
    args = parser.parse_args(argv)
    for tool in ("valgrind", "wrk"):
        if shutil.which(tool) is None:
            print(f"bench.instructions: {tool} is not installed (Debian: apt-get install {tool})", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="oct-instructions-") as tmp:
        counts = {name: per_request(module, args.short, args.long, Path(tmp)) for name, module in SERVERS.items()}
    reference = counts["reference"]
    print("| server | user-space instructions per request | the reference's ÷ these |")
    print("|---|---|---|")
    for name, instructions in counts.items():
        print(f"| {name} | {instructions:,.0f} | {reference / instructions:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
