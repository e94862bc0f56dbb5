"""The read commands: ``summary``, ``cost``, ``traces``, ``trace ID``, ``errors``, ``sessions``, ``session ID``.

Each reads the database through the read layer (``openclaw_trace.read``) on a
read-only connection, with or without the daemon running. Output is an
aligned table on a terminal, one JSON document with ``--json`` (the field
names of the read API), or CSV with ``--csv``. Exit codes: 0 printed, 2 bad
usage or an unusable database, 3 ``cost --budget`` exceeded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from openclaw_trace import cli_format
from openclaw_trace.config import ConfigError, load_config
from openclaw_trace.read import costs, host, records
from openclaw_trace.read.catalog import FILTER_PARAMS
from openclaw_trace.read.filters import Filters
from openclaw_trace.read.problems import ReadProblem
from openclaw_trace.read.reader import open_reader, time_limit
from openclaw_trace.read.window import Window, parse_window, zone

COMMANDS = ("summary", "cost", "traces", "trace", "errors", "sessions", "session", "books")
QUERY_TIME_LIMIT_S = 30.0
OVER_BUDGET = 3


def add_parsers(commands: Any) -> None:
    """Register the read commands on the CLI's subparsers."""
    specs: dict[str, tuple[str, bool]] = {
        "summary": ("calls, tokens, cost, errors and latency of a window", True),
        "cost": ("cost grouped --by model, provider, agent, channel, session, day or hour", True),
        "traces": ("model calls, newest first", True),
        "trace": ("one model call whole, with its text and metadata", False),
        "errors": ("errors, newest first, or counted --by category, type, severity or model", True),
        "sessions": ("sessions by cost or by recency", True),
        "session": ("one session's timeline: its calls, errors and the gateway's events", False),
        "books": ("the ingest books a minute apart: received, written, dropped by reason", True),
    }
    for name, (help_text, windowed) in specs.items():
        command = commands.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name in ("trace", "session"):
            command.add_argument("id", help=f"the {name}'s id")
        if name == "session":
            command.add_argument(
                "--since", help="look for it from: 15m, 24h, 7d, today, a date or Unix ms (default 24h)"
            )
            command.add_argument("--until", help="look for it until (default now)")
        command.add_argument("--db", help="database file (default: OCT_DB_PATH, else the per-user default)")
        output = command.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="print one JSON document")
        output.add_argument("--csv", action="store_true", help="print CSV")
        command.add_argument("--tz", help="time zone for days and times (default: this machine's)")
        command.add_argument("--utc", action="store_true", help="days and times in UTC")
        command.add_argument("--limit", type=int, help="rows at most (1 to 1000)")
        if not windowed:
            continue
        command.add_argument("--since", help="start: 15m, 24h, 7d, today, month, a date or Unix ms (default 24h)")
        command.add_argument("--until", help="end, in the same forms (default now)")
        for flag in FILTER_PARAMS if name != "books" else ():
            if flag != "status" or name in ("summary", "cost", "traces", "sessions"):
                command.add_argument(f"--{flag}", help=f"only this {flag}")
        if name == "cost":
            command.add_argument("--by", default="model", help="one or two keys, e.g. day,model (default model)")
            command.add_argument("--budget", type=float, help="exit 3 when the window's cost is over this many USD")
        if name == "errors":
            command.add_argument("--by", help="count by category, type, severity or model instead of listing")
            command.add_argument("--type", dest="error_type", help="llm_error, crash or system_error")
            command.add_argument("--category", help="e.g. rate_limit, timeout, server_error")
            command.add_argument("--severity", help="e.g. error, warning")
        if name == "sessions":
            command.add_argument("--sort", default="cost", help="cost (default) or recent")
        if name in ("traces", "errors"):
            command.add_argument("--cursor", help="the next_cursor of the previous page")


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and not 1 <= args.limit <= 1000:
        return _usage(f"--limit {args.limit} is out of range: use 1 to 1000")
    db_path = args.db
    if db_path is None:
        try:
            db_path = load_config(os.environ).db_path
        except ConfigError as exc:
            return _usage(str(exc))
    try:
        tz = zone("UTC" if args.utc else args.tz)
        conn = open_reader(db_path)
        try:
            with time_limit(conn, QUERY_TIME_LIMIT_S):
                return _HANDLERS[args.command](conn, args, tz)
        finally:
            conn.close()
    except ReadProblem as exc:
        return _usage(str(exc))
    except sqlite3.Error as exc:
        return _usage(f"cannot read {db_path}: {exc}")


def _usage(message: str) -> int:
    print(f"openclaw-trace: {message}", file=sys.stderr)
    return 2


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _window(args: argparse.Namespace, tz: datetime.tzinfo) -> Window:
    return parse_window(args.since, args.until, _now_ms(), tz)


def _filters(args: argparse.Namespace) -> Filters:
    given = {field: getattr(args, flag, None) for flag, field in FILTER_PARAMS.items()}
    return Filters(**given)


def _print_rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str], tz: Any) -> None:
    if args.json:
        print(cli_format.as_json(rows))
    elif args.csv:
        print(cli_format.as_csv(rows, columns))
    else:
        print(cli_format.table(rows, columns, tz))


def _summary(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    found = costs.summary(conn, _window(args, tz), _filters(args), _now_ms(), tz).public()
    if args.json:
        print(cli_format.as_json(found))
        return 0
    periods = found.pop("cost_periods")
    flat = [{"figure": k, "value": v} for k, v in found.items()]
    flat += [{"figure": f"cost {name}", "value": period} for name, period in periods.items()]
    if args.csv:
        print(cli_format.as_csv(flat, ["figure", "value"]))
        return 0
    print(f"{cli_format.local_time(found['since_ms'], tz)} → {cli_format.local_time(found['until_ms'], tz)}")
    unpriced = f" (+{found['unpriced_calls']} unpriced)" if found["unpriced_calls"] else ""
    print(f"  calls       {found['calls']:,}, {found['failed_calls']:,} failed ({found['error_rate']:.1%})")
    print(f"  cost        {cli_format.money(found['cost_usd'])}{unpriced}")
    print(f"  tokens      {found['prompt_tokens']:,} in, {found['completion_tokens']:,} out")
    print(f"  errors      {found['errors']:,}")
    p50, p95 = found["latency_p50_ms"], found["latency_p95_ms"]
    print(f"  latency     p50 {p50 if p50 is not None else '-'} ms, p95 {p95 if p95 is not None else '-'} ms")
    for name, period in periods.items():
        extra = f" (+{period['unpriced_calls']} unpriced)" if period["unpriced_calls"] else ""
        print(f"  cost {name:<6} {cli_format.money(period['cost_usd'])}{extra}")
    return 0


def _cost(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    keys = costs.parse_group_keys(args.by)
    now_ms = _now_ms()
    window = parse_window(args.since, args.until, now_ms, tz)
    rows = costs.cost(conn, window, _filters(args), keys, tz, args.limit, now_ms)
    columns = [*keys, "calls", "failed_calls", "total_tokens", "cost_usd", "unpriced_calls"]
    _print_rows(args, rows, columns, tz)
    if args.budget is not None:
        total = costs.summary(conn, _window(args, tz), _filters(args), _now_ms(), tz).totals.cost_usd
        if total > args.budget:
            print(
                f"openclaw-trace: cost {cli_format.money(total)} is over the budget of ${args.budget:g}",
                file=sys.stderr,
            )
            return OVER_BUDGET
    return 0


def _traces(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    page = records.traces(conn, _window(args, tz), _filters(args), args.limit, args.cursor)
    return _print_page(args, page, ["created_at", "trace_id", "provider", "model", "status", "total_tokens",
                                    "cost_usd", "latency_ms", "session_id"], tz)  # fmt: skip


def _errors(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    kinds = {"error_type": args.error_type, "category": args.category, "severity": args.severity}
    if args.by:
        groups = records.error_groups(conn, _window(args, tz), _filters(args), kinds, args.by)
        _print_rows(args, groups, [args.by, "errors", "last_at"], tz)
        return 0
    page = records.errors(conn, _window(args, tz), _filters(args), kinds, args.limit, args.cursor)
    return _print_page(args, page, ["created_at", "error_type", "category", "provider", "model", "message"], tz)


def _print_page(args: argparse.Namespace, page: records.Page, columns: list[str], tz: datetime.tzinfo) -> int:
    if args.json:
        print(cli_format.as_json(page.public()))
        return 0
    _print_rows(args, page.items, columns, tz)
    if page.next_cursor and not args.csv:
        print(f"(more: --cursor {page.next_cursor})")
    return 0


def _sessions(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    rows = records.sessions(conn, _window(args, tz), _filters(args), args.sort, args.limit)
    columns = ["session_id", "agent_id", "first_seen", "last_seen", "calls", "failed_calls", "cost_usd"]
    _print_rows(args, rows, columns, tz)
    return 0


def _trace(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    found = records.trace(conn, args.id)
    if args.json or args.csv:
        print(cli_format.as_json(found))
        return 0
    for key, value in found.items():
        if key in ("input_text", "output_text", "metadata"):
            continue
        print(f"{key:<18} {cli_format.cell(key, value, found, tz)}")
    for key in ("input_text", "output_text"):
        print(f"\n--- {key} ---\n{found.get(key) or '(none)'}")
    print(f"\n--- metadata ---\n{cli_format.as_json(found.get('metadata'))}")
    return 0


def _session(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    found = records.session(conn, args.id, _window(args, tz), args.limit)
    if args.json:
        print(cli_format.as_json(found))
        return 0
    for event in found["events"]:
        event["what"] = _what(event)
    _print_rows(args, found["events"], ["created_at", "kind", "what"], tz)
    return 0


def _what(event: dict[str, Any]) -> str:
    if event["kind"] == "call":
        cost = "unpriced" if event.get("cost_source") == "unpriced" else cli_format.money(event.get("cost_usd"))
        return f"{event['provider']}/{event['model']} {event['status']} {event.get('total_tokens') or 0} tok {cost}"
    if event["kind"] == "error":
        return f"{event['error_type']} {event.get('category') or ''}: {event['message']}"
    return f"{event.get('subsystem') or ''} {event.get('event')}: {event.get('message') or ''}"


def _books(conn: sqlite3.Connection, args: argparse.Namespace, tz: datetime.tzinfo) -> int:
    window = _window(args, tz)
    rows = host.books(conn, window.since_ms, window.until_ms, args.limit)
    columns = ["at", "received_delta", "written_delta", "dropped_delta", "queue_depth", "received", "dropped"]
    for row in rows:
        row["created_at"] = row["at"]
    _print_rows(args, rows, ["created_at", *columns[1:]], tz)
    return 0


_HANDLERS: dict[str, Callable[[sqlite3.Connection, argparse.Namespace, datetime.tzinfo], int]] = {
    "summary": _summary,
    "cost": _cost,
    "traces": _traces,
    "trace": _trace,
    "errors": _errors,
    "sessions": _sessions,
    "session": _session,
    "books": _books,
}
