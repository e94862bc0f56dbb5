"""``openclaw-trace metrics``: recent host metrics samples, as a table or JSON.

Reads the database through a read-only connection (``mode=ro``), so it can
run beside the daemon and can never write; it does not need the daemon to
be running. The database is ``--db``, else ``OCT_DB_PATH``, else the
per-user default.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sqlite3
import sys
import time
from typing import Any

from openclaw_trace.config import load_config_or_say
from openclaw_trace.config_types import parse_duration_s
from openclaw_trace.read import host
from openclaw_trace.read.filters import MAX_LIMIT
from openclaw_trace.storage.connection import open_read_connection

DEFAULT_LIMIT = 20


def add_parser(commands: Any) -> None:
    """Register ``metrics`` on the ``add_subparsers`` object of the main parser."""
    metrics = commands.add_parser(
        "metrics",
        help="show recent host metrics samples",
        description="Show the most recent system metrics samples (oldest first), read-only from the database.",
    )
    metrics.add_argument("--db", help="database file (default: OCT_DB_PATH, else the per-user default)")
    metrics.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"samples to show (default {DEFAULT_LIMIT})")
    metrics.add_argument("--since", help="only samples newer than this long ago, e.g. 30m, 2h, 1d")
    metrics.add_argument("--json", action="store_true", help="print JSON (one array of samples)")


def run(args: argparse.Namespace) -> int:
    """Exit code: 0 printed (also when there are no samples), 1 database unusable, 2 bad usage."""
    if not 1 <= args.limit <= MAX_LIMIT:
        print(f"openclaw-trace: --limit {args.limit} is out of range: use 1 to {MAX_LIMIT}", file=sys.stderr)
        return 2
    since_ms = 0
    if args.since:
        try:
            since_ms = time.time_ns() // 1_000_000 - int(parse_duration_s(args.since) * 1000)
        except ValueError as exc:
            print(f"openclaw-trace: invalid --since {args.since!r}: {exc}", file=sys.stderr)
            return 2
    db_path = args.db
    if db_path is None:
        config = load_config_or_say()
        if config is None:
            return 2
        db_path = config.db_path
    if not os.path.isfile(db_path):
        print(f"openclaw-trace: no database at {db_path}", file=sys.stderr)
        return 1
    try:
        samples = recent_samples(db_path, args.limit, since_ms)
    except sqlite3.Error as exc:
        print(f"openclaw-trace: cannot read {db_path}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(samples, indent=2))
    elif samples:
        print(format_table(samples))
    else:
        print("no system metrics samples yet")
    return 0


def recent_samples(db_path: str, limit: int, since_ms: int = 0) -> list[dict[str, Any]]:
    """The newest ``limit`` samples at or after ``since_ms``, oldest first, metadata parsed (the read layer's)."""
    conn = open_read_connection(db_path)
    try:
        return host.metrics(conn, since_ms, limit)
    finally:
        conn.close()


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_bytes(value: int | None) -> str:
    """1536 → ``1.5K``; binary units, one decimal below 10, ``-`` for unknown."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "K", "M", "G", "T"):
        if abs(size) < 1024 or unit == "T":
            if unit == "B":
                return f"{int(size)}B"
            return f"{size:.1f}{unit}" if abs(size) < 10 else f"{size:.0f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_table(samples: list[dict[str, Any]]) -> str:
    """Aligned columns: time, source, CPU, memory, disk and I/O, and the gateway when sampled."""
    with_gateway = any(isinstance(s["metadata"], dict) and "gateway" in s["metadata"] for s in samples)
    header = ["TIME (UTC)", "SOURCE", "CPU%", "MEM USED", "MEM TOTAL", "MEM%", "DISK%", "DISK FREE", "READ", "WRITTEN"]
    if with_gateway:
        header += ["GW CPU%", "GW RSS", "GW THREADS", "GW FDS"]
    lines = [header]
    for s in samples:
        total, used = s["mem_total_bytes"], s["mem_used_bytes"]
        mem_percent = used / total * 100 if total and used is not None else None
        row = [
            s["time"].replace("T", " ").rstrip("Z"),
            str(s["source"] or "-"),
            _percent(s["cpu_percent"]),
            human_bytes(used),
            human_bytes(total),
            _percent(mem_percent),
            _percent(s["disk_percent"]),
            human_bytes(s["disk_free_bytes"]),
            human_bytes(s["io_read_bytes"]),
            human_bytes(s["io_write_bytes"]),
        ]
        if with_gateway:
            gateway = s["metadata"].get("gateway") if isinstance(s["metadata"], dict) else None
            gateway = gateway if isinstance(gateway, dict) else {}
            row += [
                _percent(gateway.get("cpu_percent")),
                human_bytes(gateway.get("rss_bytes")),
                str(gateway.get("threads", "-")),
                str(gateway.get("open_fds", "-")),
            ]
        lines.append(row)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    # Text columns left-aligned, figures right-aligned.
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )
