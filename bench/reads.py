"""Read benchmark: ``python -m bench.reads`` — the read API and the CLI on a million calls over 30 days.

Starts the daemon on a copy of the pre-filled database (bench/prefill.py: a
million traces over the last 30 days, 6 models, 8 agents, 4 channels,
sessions of 40 calls), then times, on one keep-alive connection, each read
endpoint's answers (p50, p95 of ``REQUESTS`` each, after one warm-up), and
each CLI read command's wall time from start to exit (``CLI_RUNS`` each,
the slowest shown). Prints the table with the targets of the read layer.
Reads during ingest load are measured by ``bench.run``'s ``steady-20k-reads``.
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import prefill
from bench.procs import ServerProcess, free_port
from bench.run import FULL_ROWS, QUICK_ROWS, RESULTS_DIR, copy_db, server_env

REQUESTS = 40
CLI_RUNS = 5


def sample_ids(db_path: Path) -> tuple[str, str]:
    """A recent session id and trace id of the database, as a user would look one up."""
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        session_id, trace_id = conn.execute(
            "SELECT session_id, trace_id FROM llm_traces ORDER BY id DESC LIMIT 1 OFFSET 500"
        ).fetchone()
        return str(session_id), str(trace_id)
    finally:
        conn.close()


def time_endpoint(port: int, path: str, requests: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    took: list[float] = []
    try:
        for index in range(requests + 1):
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            if index:  # the first one warms the page cache and the reader threads' connections
                took.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return took


def time_cli(args: list[str], db_path: Path, runs: int) -> float:
    slowest = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "openclaw_trace", *args, "--db", str(db_path), "--json"],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"openclaw-trace {' '.join(args)}: {done.stderr.decode()[-300:]}")
        slowest = max(slowest, (time.perf_counter() - started) * 1000)
    return slowest


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows instead of {FULL_ROWS:,}")
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else FULL_ROWS
    source = prefill.cached_db(RESULTS_DIR / "cache", rows)
    work = Path(tempfile.mkdtemp(prefix="oct-bench-reads-"))
    db_path = work / "traces.db"
    copy_db(source, db_path)
    session_id, trace_id = sample_ids(db_path)
    endpoints = [
        ("summary --since 30d", "/api/v1/summary?since=30d", 50.0),
        ("cost --since 30d --by day,model", "/api/v1/cost?since=30d&by=day,model", 50.0),
        ("traces --limit 50", "/api/v1/traces?limit=50", 20.0),
        ("session ID", f"/api/v1/session?id={session_id}", 20.0),
        ("trace ID", f"/api/v1/trace?id={trace_id}", None),
    ]
    port = free_port()
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        [sys.executable, "-m", "openclaw_trace", "serve"], server_env(port, db_path), port, log_dir / "reads.log", None
    )
    lines = ["| read | p50 ms | p95 ms | target p95 | verdict |", "|---|---|---|---|---|"]
    failed = False
    try:
        server.wait_ready()
        for name, path, target in endpoints:
            took = time_endpoint(port, path, REQUESTS)
            p95 = percentile(took, 0.95)
            verdict = "n/a" if target is None else ("PASS" if p95 <= target else "FAIL")
            failed |= verdict == "FAIL"
            shown = "(none set)" if target is None else f"≤ {target:.0f} ms"
            lines.append(f"| API {name} | {statistics.median(took):.1f} | {p95:.1f} | {shown} | {verdict} |")
    finally:
        server.stop(60)
    cli_commands = [
        ["summary", "--since", "30d"],
        ["cost", "--since", "30d", "--by", "day,model"],
        ["traces", "--limit", "50"],
        ["errors", "--since", "24h", "--by", "category"],
        ["sessions", "--since", "24h"],
        ["session", session_id],
        ["trace", trace_id],
    ]
    lines += ["", "| CLI command | slowest wall ms | target | verdict |", "|---|---|---|---|"]
    for command in cli_commands:
        slowest = time_cli(command, db_path, CLI_RUNS)
        verdict = "PASS" if slowest <= 400 else "FAIL"
        failed |= verdict == "FAIL"
        shown = " ".join(command).replace(session_id, "ID").replace(trace_id, "ID")
        lines.append(f"| {shown} | {slowest:.0f} | ≤ 400 ms | {verdict} |")
    print(f"bench.reads: {rows:,} calls over 30 days")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
