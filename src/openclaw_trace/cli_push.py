"""``openclaw-trace push``: one manual push (``--once``) or the recent push log (``--status``).

``--once`` works beside a running daemon or without one: it opens the
database, starts a private single writer on its own write connection (SQLite
serialises it with the daemon's writer through the busy timeout), runs one
push cycle with the configured endpoint and format, and closes. It carries
no loss ledger — the counters live in the daemon's memory, not here.
``--status`` only reads (``mode=ro``).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from typing import Any

from openclaw_trace.config import Config, load_config_or_say
from openclaw_trace.config_types import endpoint_label

STATUS_COLUMNS = ("started_at", "status", "events", "batches", "bytes", "duration_ms", "http_status", "error")


def add_parser(commands: Any) -> None:
    """Register ``push`` on the CLI's subparsers."""
    push = commands.add_parser("push", help="push stored rows now, or show recent pushes")
    mode = push.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="run one push cycle with the OCT_PUSH_* settings")
    mode.add_argument("--status", action="store_true", help="show the most recent push cycles")
    push.add_argument("--json", action="store_true", help="print JSON")
    push.add_argument("--limit", type=int, default=20, help="cycles shown by --status (default 20)")
    push.add_argument("--timeout", type=float, default=60.0, help="seconds --once may take (default 60)")
    push.add_argument("--db", help="database file (default: OCT_DB_PATH, else the per-user default)")


def run(args: argparse.Namespace) -> int:
    config = load_config_or_say({"OCT_DB_PATH": args.db} if args.db else None)
    if config is None:
        return 2
    if not os.path.exists(config.db_path):
        print(f"openclaw-trace: no database at {config.db_path}", file=sys.stderr)
        return 1
    if args.status:
        if not 1 <= args.limit <= 1000:
            print(f"openclaw-trace: --limit {args.limit} is out of range: use 1 to 1000", file=sys.stderr)
            return 2
        return _status(config, args.limit, args.json)
    return _once(config, args.timeout, args.json)


def _status(config: Config, limit: int, as_json: bool) -> int:
    from openclaw_trace.read import host
    from openclaw_trace.storage.connection import open_read_connection

    try:
        conn = open_read_connection(config.db_path)
        try:
            found = host.push_cycles(conn, limit)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        print(f"openclaw-trace: cannot read {config.db_path}: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(found, indent=2))
    elif not found:
        print("no push cycles recorded")
    else:
        print(format_table(found))
    return 0


def format_table(records: list[dict[str, Any]]) -> str:
    """Push log rows as an aligned table, newest first, times in UTC."""
    import datetime

    lines = [list(STATUS_COLUMNS)]
    for record in records:
        cells = []
        for column in STATUS_COLUMNS:
            value = record.get(column)
            if column == "started_at" and value is not None:
                value = datetime.datetime.fromtimestamp(value / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
            cells.append("-" if value is None else str(value)[:80])
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(STATUS_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _once(config: Config, timeout_s: float, as_json: bool) -> int:
    if not config.push_endpoint:
        print("openclaw-trace: OCT_PUSH_ENDPOINT is not set; nothing to push to", file=sys.stderr)
        return 2
    from openclaw_trace.pipeline.queue import IngestQueue
    from openclaw_trace.pipeline.writer import BatchWriter
    from openclaw_trace.push.scheduler import PushScheduler
    from openclaw_trace.stats import Stats
    from openclaw_trace.storage import schema
    from openclaw_trace.storage.connection import open_write_connection

    try:
        conn = open_write_connection(config.db_path)
    except sqlite3.Error as exc:
        print(f"openclaw-trace: cannot open {config.db_path}: {exc}", file=sys.stderr)
        return 1
    try:
        if schema.current_version(conn) != schema.LATEST_VERSION:
            print(
                "openclaw-trace: the database is not at this version's schema; start the daemon once", file=sys.stderr
            )
            return 1
        stats = Stats()
        writer = BatchWriter(conn, IngestQueue(stats), stats)
        writer.start()
        try:
            scheduler = PushScheduler.from_config(config, writer, None)
            report = scheduler.run_cycle(timeout_s, final=True)
        finally:
            writer.stop(10)
    finally:
        conn.close()
    # Every request's bytes count, answered or not: none means the endpoint was never contacted.
    contacted = report.bytes > 0 or report.http_status is not None
    summary = {
        "status": report.status,
        "events": report.events,
        "batches": report.batches,
        "bytes": report.bytes,
        "duration_ms": report.duration_ms,
        "http_status": report.http_status,
        "error": report.error,
        "contacted": contacted,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
    elif not contacted and report.status == "ok":
        # "status ok" here would claim a push that never happened (and an endpoint that may be down).
        endpoint = endpoint_label(config.push_endpoint)
        print(f"nothing to push: no stored row waits to be pushed; {endpoint} was not contacted")
    else:
        width = max(len(k) for k in summary)
        print("\n".join(f"{k:<{width}}  {'-' if v is None else v}" for k, v in summary.items()))
    return 0 if report.status == "ok" else 1
