"""The read layer's queries by name, with string parameters: what the read API and the MCP server answer.

``build(name, params)`` checks the parameters (``BadQuery`` naming an unknown
or bad one) and returns the query to run on a read-only connection. The
CLI's read commands call the same functions with parsed flags; the names,
parameters and JSON are the same across the three faces.
"""

from __future__ import annotations

import datetime
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any

from openclaw_trace.read import costs, host, records
from openclaw_trace.read.filters import Filters
from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import Window, parse_window, zone

Query = Callable[[sqlite3.Connection], Any]
COMMON = frozenset(
    {"since", "until", "tz", "utc", "limit", "provider", "model", "agent", "session", "channel", "status"}
)
# Filter parameters (and CLI flags) → Filters fields.
FILTER_PARAMS = {"provider": "provider", "model": "model", "agent": "agent_id", "session": "session_id",
                  "channel": "channel", "status": "status"}  # fmt: skip


def _limit(params: dict[str, str]) -> int | None:
    text = params.get("limit")
    if text is None:
        return None
    if not text.isdigit():
        raise BadQuery("limit", f"{text!r} is not a number")
    return int(text)


def _context(params: dict[str, str]) -> tuple[Window, Filters, datetime.tzinfo, int]:
    tz = zone("UTC" if params.get("utc") in ("1", "true") else params.get("tz"))
    now_ms = time.time_ns() // 1_000_000
    window = parse_window(params.get("since"), params.get("until"), now_ms, tz)
    filters = Filters(**{field: params.get(name) for name, field in FILTER_PARAMS.items()})
    return window, filters, tz, now_ms


def _summary(params: dict[str, str]) -> Query:
    window, filters, tz, now_ms = _context(params)
    return lambda conn: costs.summary(conn, window, filters, now_ms, tz).public()


def _cost(params: dict[str, str]) -> Query:
    window, filters, tz, now_ms = _context(params)
    keys = costs.parse_group_keys(params.get("by", "model"))
    return lambda conn: costs.cost(conn, window, filters, keys, tz, _limit(params), now_ms)


def _traces(params: dict[str, str]) -> Query:
    window, filters, _, _ = _context(params)
    return lambda conn: records.traces(conn, window, filters, _limit(params), params.get("cursor")).public()


def _errors(params: dict[str, str]) -> Query:
    window, filters, _, _ = _context(params)
    kinds = {"error_type": params.get("type"), "category": params.get("category"), "severity": params.get("severity")}
    by = params.get("by")
    if by:
        return lambda conn: records.error_groups(conn, window, filters, kinds, by)
    return lambda conn: records.errors(conn, window, filters, kinds, _limit(params), params.get("cursor")).public()


def _sessions(params: dict[str, str]) -> Query:
    window, filters, _, _ = _context(params)
    return lambda conn: records.sessions(conn, window, filters, params.get("sort", "cost"), _limit(params))


def _required_id(params: dict[str, str]) -> str:
    found = params.get("id")
    if not found:
        raise BadQuery("id", "required")
    return found


def _trace(params: dict[str, str]) -> Query:
    trace_id = _required_id(params)
    return lambda conn: records.trace(conn, trace_id)


def _session(params: dict[str, str]) -> Query:
    session_id = _required_id(params)
    window, _, _, _ = _context({key: value for key, value in params.items() if key in ("since", "until", "tz", "utc")})
    return lambda conn: records.session(conn, session_id, window, _limit(params))


def _metrics(params: dict[str, str]) -> Query:
    since = params.get("since")
    now_ms = time.time_ns() // 1_000_000
    since_ms = parse_window(since, None, now_ms, zone("UTC")).since_ms if since else 0
    return lambda conn: host.metrics(conn, since_ms, _limit(params))


def _books(params: dict[str, str]) -> Query:
    window, _, _, _ = _context({key: value for key, value in params.items() if key in ("since", "until")})
    return lambda conn: host.books(conn, window.since_ms, window.until_ms, _limit(params))


def _push(params: dict[str, str]) -> Query:
    return lambda conn: host.push_cycles(conn, _limit(params))


# name -> (builds the query from the parameters, the parameters it takes)
QUERIES: dict[str, tuple[Callable[[dict[str, str]], Query], frozenset[str]]] = {
    "summary": (_summary, COMMON),
    "cost": (_cost, COMMON | {"by"}),
    "traces": (_traces, COMMON | {"cursor"}),
    "errors": (_errors, COMMON | {"by", "cursor", "type", "category", "severity"}),
    "sessions": (_sessions, COMMON | {"sort"}),
    "trace": (_trace, frozenset({"id"})),
    "session": (_session, frozenset({"id", "limit", "since", "until", "tz", "utc"})),
    "metrics": (_metrics, frozenset({"since", "limit"})),
    "push": (_push, frozenset({"limit"})),
    "books": (_books, frozenset({"since", "until", "limit"})),
}


def build(name: str, params: Mapping[str, str]) -> Query:
    """The query ``name`` with ``params``; BadQuery for an unknown or bad parameter, KeyError for no such name."""
    builder, allowed = QUERIES[name]
    for key in params:
        if key not in allowed:
            raise BadQuery(key, f"unknown parameter; {name} takes {', '.join(sorted(allowed))}")
    return builder(dict(params))
