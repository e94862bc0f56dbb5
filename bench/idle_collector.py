"""Idle cost of the daemon with the system metrics collector at its default interval.

Starts ``python -m openclaw_trace serve`` on a fresh database with default
settings (metrics every 15 s, upkeep every 5 min, WAL checkpointer), sends
nothing, and measures the server's CPU time (utime + stime from /proc,
all threads) and RSS over ``--duration`` seconds after a short settle. It
also times the sampler alone in this process (the cost of one sample).

    .venv/bin/python -m bench.idle_collector              # ~2.7 minutes
    .venv/bin/python -m bench.idle_collector --duration 30

Prints a Markdown summary and writes ``bench/results/idle-collector-<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import ServerProcess, free_port, rss_bytes
from openclaw_trace.collectors.gateway_process import GatewayProcessProbe
from openclaw_trace.collectors.system import SystemSampler

RESULTS = Path(__file__).parent / "results"
RSS_EVERY_S = 5.0


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def time_sampler(db_path: str, samples: int = 200) -> float:
    """Mean wall time of one ``SystemSampler.sample`` in this process, in ms (gateway search off)."""
    sampler = SystemSampler(db_path)
    sampler.sample(time.monotonic())
    started = time.perf_counter()
    for _ in range(samples):
        sampler.sample(time.monotonic())
    return (time.perf_counter() - started) / samples * 1000


def time_gateway_search(searches: int = 20) -> float:
    """Mean wall time of one scan of the process table for the gateway, in ms (runs once a minute)."""
    started = time.perf_counter()
    for _ in range(searches):
        GatewayProcessProbe(search_interval_s=0).sample()
    return (time.perf_counter() - started) / searches * 1000


def run(duration_s: float, settle_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oct-idle-") as tmp:
        db_path = str(Path(tmp) / "idle.db")
        port = free_port()
        # Defaults for everything else: no OCT_* of the caller's shell leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
        env.update(OCT_PORT=str(port), OCT_DB_PATH=db_path, OCT_LOG_LEVEL="warning")
        server = ServerProcess(
            [sys.executable, "-m", "openclaw_trace", "serve"], env, port, Path(tmp) / "server.log", cpus=None
        )
        try:
            server.wait_ready()
            time.sleep(settle_s)  # imports, migration and the collector's baseline read are start-up, not idle
            cpu_start, started = server.cpu_seconds(), time.monotonic()
            rss: list[int] = []
            while time.monotonic() - started < duration_s:
                rss.append(rss_bytes(server.pid))
                time.sleep(min(RSS_EVERY_S, max(0.0, duration_s - (time.monotonic() - started))))
            cpu_end, elapsed = server.cpu_seconds(), time.monotonic() - started
            rss.append(rss_bytes(server.pid))
            health = server.health()
        finally:
            exit_code = server.stop(20)
        sample_ms = time_sampler(db_path)
        search_ms = time_gateway_search()
    cpu_percent = (cpu_end - cpu_start) / elapsed * 100
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "duration_s": round(elapsed, 1),
        "settle_s": settle_s,
        "cpu_seconds": round(cpu_end - cpu_start, 3),
        "cpu_percent_of_one_core": round(cpu_percent, 3),
        "rss_start_mib": round(rss[0] / 2**20, 1),
        "rss_end_mib": round(rss[-1] / 2**20, 1),
        "rss_peak_mib": round(max(rss) / 2**20, 1),
        "metrics_samples": health.get("metrics", {}).get("samples"),
        "metrics_interval_s": health.get("metrics", {}).get("interval_s"),
        "metrics_source": health.get("metrics", {}).get("source"),
        "sampler_ms_per_sample": round(sample_ms, 3),
        "gateway_search_ms": round(search_ms, 3),
        "exit_code": exit_code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=150.0, help="measured seconds (default 150)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after ready before measuring")
    args = parser.parse_args()
    result = run(args.duration, args.settle)
    RESULTS.mkdir(exist_ok=True)
    stamp = result["date"].replace("-", "").replace(":", "")
    (RESULTS / f"idle-collector-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    print(f"date {result['date']}; {m['cpu_model']}, {m['cpus']} CPUs, Linux {m['kernel']}, Python {m['python']}")
    print("| measured | CPU (% of one core) | RSS start / end / peak | samples | source | one sample | gw search |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {result['duration_s']} s | {result['cpu_percent_of_one_core']} % ({result['cpu_seconds']} s) |"
        f" {result['rss_start_mib']} / {result['rss_end_mib']} / {result['rss_peak_mib']} MiB |"
        f" {result['metrics_samples']} every {result['metrics_interval_s']} s | {result['metrics_source']} |"
        f" {result['sampler_ms_per_sample']} ms | {result['gateway_search_ms']} ms |"
    )
    goal_met = result["cpu_percent_of_one_core"] < 1.0
    print(f"goal < 1 % of one core: {'met' if goal_met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
