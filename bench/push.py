"""Push benchmark: time and peak RSS to push 100,000 stored rows to a local receiver, both formats.

    .venv/bin/python -m bench.push [--rows 100000]

For each format a fresh database gets the rows (70 % model calls with ~1 KB
of text, 15 % errors, 10 % host metric samples, 5 % OTel metric points),
then a child process — the pusher alone, so its peak RSS is its own — opens
it with the real single writer and runs one push cycle against a receiver
in this process (127.0.0.1, ThreadingHTTPServer: reads and gunzips every
body, answers 200). Reported: wall time of the cycle, rows/s, requests,
bytes on the wire and before gzip, the child's RSS before the cycle and at
its peak, and a check that every row ended ``synced = 1``.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from openclaw_trace.storage import schema
from openclaw_trace.storage.connection import open_write_connection

SHARES = (("llm_traces", 0.70), ("error_events", 0.15), ("system_metrics", 0.10), ("otel_metrics", 0.05))
WORDS = ("the", "agent", "asked", "a", "model", "to", "plan", "trip", "and", "summarise", "answers", "for", "user")


def _text(rng: random.Random, size: int) -> str:
    out: list[str] = []
    total = 0
    while total < size:
        word = rng.choice(WORDS)
        out.append(word)
        total += len(word) + 1
    return " ".join(out)


def fill(db_path: str, rows: int) -> dict[str, int]:
    """Insert ``rows`` unsynced rows over four tables; returns rows per table."""
    rng = random.Random(7)
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    now = time.time_ns() // 1_000_000 - rows
    counts: dict[str, int] = {}
    conn.execute("BEGIN")
    for table, share in SHARES:
        n = int(rows * share)
        counts[table] = n
        for i in range(n):
            tid, at = str(uuid.uuid4()), now + i
            meta = json.dumps({"run": f"r{i % 97}", "i": i})
            if table == "llm_traces":
                conn.execute(
                    "INSERT INTO llm_traces (trace_id, created_at, provider, model, input_text, output_text,"
                    " prompt_tokens, completion_tokens, total_tokens, cost_usd, cost_source, latency_ms, status,"
                    " session_id, agent_id, channel, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        tid,
                        at,
                        "anthropic",
                        "claude-sonnet-4",
                        _text(rng, 600),
                        _text(rng, 400),
                        812,
                        233,
                        1045,
                        0.0059,
                        "computed",
                        1830.0,
                        "ok",
                        f"s{i % 50}",
                        "main",
                        "telegram",
                        meta,
                    ),
                )
            elif table == "error_events":
                conn.execute(
                    "INSERT INTO error_events (trace_id, created_at, error_type, category, severity, message,"
                    " stack_trace, provider, model, metadata) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        tid,
                        at,
                        "llm_error",
                        "rate_limit",
                        "error",
                        "429 from provider",
                        _text(rng, 300),
                        "openai",
                        "gpt-4o",
                        meta,
                    ),
                )
            elif table == "system_metrics":
                conn.execute(
                    "INSERT INTO system_metrics (trace_id, created_at, source, cpu_percent, mem_used_bytes,"
                    " mem_available_bytes, mem_total_bytes, disk_total_bytes, disk_used_bytes, disk_free_bytes,"
                    " disk_percent, io_read_bytes, io_write_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (tid, at, "host", 12.5, 2 << 30, 6 << 30, 8 << 30, 100 << 30, 40 << 30, 60 << 30, 40.0, 4096, 8192),
                )
            else:
                conn.execute(
                    "INSERT INTO otel_metrics (trace_id, created_at, name, unit, kind, value, attributes,"
                    " service_name) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        tid,
                        at,
                        "openclaw.tokens",
                        "{token}",
                        "sum",
                        float(i),
                        '{"openclaw.channel":"telegram"}',
                        "openclaw-gateway",
                    ),
                )
    conn.execute("COMMIT")
    conn.close()
    return counts


class Receiver:
    """Counts requests and bytes; answers 200 at once."""

    def __init__(self) -> None:
        self.requests = 0
        self.wire_bytes = 0
        self.plain_bytes = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                plain = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                with owner._lock:
                    owner.requests += 1
                    owner.wire_bytes += len(raw)
                    owner.plain_bytes += len(plain)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(db_path: str, endpoint: str, push_format: str) -> None:
    """The pusher alone: one cycle with the real writer; prints a JSON result line."""
    from openclaw_trace.config import Config
    from openclaw_trace.pipeline.queue import IngestQueue
    from openclaw_trace.pipeline.writer import BatchWriter
    from openclaw_trace.push.scheduler import PushScheduler
    from openclaw_trace.stats import Stats

    config = Config(db_path=db_path, push_endpoint=endpoint, push_format=push_format)
    stats = Stats()
    conn = open_write_connection(db_path)
    writer = BatchWriter(conn, IngestQueue(stats), stats)
    writer.start()
    scheduler = PushScheduler.from_config(config, writer, stats)
    rss_before = _rss_kib()
    started = time.perf_counter()
    report = scheduler.run_cycle(600)
    elapsed = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    writer.stop(10)
    conn.close()
    print(
        json.dumps(
            {
                "status": report.status,
                "events": report.events,
                "batches": report.batches,
                "seconds": round(elapsed, 2),
                "rss_before_mib": round(rss_before / 1024, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "cpu_seconds": round(cpu.ru_utime + cpu.ru_stime, 2),
            }
        )
    )


def run(rows: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="oct-push-bench-") as tmp:
        for push_format in ("json", "otlp"):
            db_path = str(Path(tmp) / f"{push_format}.db")
            counts = fill(db_path, rows)
            receiver = Receiver()
            try:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.push", "--child", db_path, receiver.url, push_format],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=900,
                )
            finally:
                receiver.close()
            result = json.loads(out.stdout.strip().splitlines()[-1])
            check = sqlite3.connect(db_path)
            unsynced = sum(check.execute(f"SELECT count(*) FROM {t} WHERE synced = 0").fetchone()[0] for t, _ in SHARES)
            check.close()
            result.update(
                {
                    "format": push_format,
                    "rows": sum(counts.values()),
                    "rows_per_s": round(result["events"] / result["seconds"]),
                    "requests": receiver.requests,
                    "wire_mb": round(receiver.wire_bytes / 1e6, 1),
                    "plain_mb": round(receiver.plain_bytes / 1e6, 1),
                    "unsynced_after": unsynced,
                }
            )
            results.append(result)
            print(json.dumps(result), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, metavar=("DB", "ENDPOINT", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}", flush=True)
    run(args.rows)


if __name__ == "__main__":
    main()
