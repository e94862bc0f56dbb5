"""Single records and lists of them: traces, errors, sessions, a session's timeline.

Lists are newest first and paged by cursor (the last row's ``created_at``
and ``id``), not OFFSET: a page costs the same however deep it is, and rows
written meanwhile never shift a page. A trace or an error is addressed by
its ``trace_id`` (the UUID every row gets).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from openclaw_trace.read.filters import Filters, checked_limit, in_window
from openclaw_trace.read.problems import BadQuery, NotFound
from openclaw_trace.read.window import Window

TRACE_LIST_COLUMNS = (
    "trace_id",
    "created_at",
    "provider",
    "model",
    "status",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "cost_source",
    "latency_ms",
    "session_id",
    "agent_id",
    "channel",
)
ERROR_LIST_COLUMNS = (
    "trace_id",
    "created_at",
    "error_type",
    "category",
    "severity",
    "message",
    "provider",
    "model",
    "session_id",
    "agent_id",
    "channel",
)
ERROR_GROUP_KEYS = {"category": "category", "type": "error_type", "severity": "severity", "model": "model"}
ERROR_FIELDS = {"error_type": ("llm_error", "crash", "system_error"), "severity": None, "category": None}


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def public(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def _after(cursor: str | None) -> tuple[str, list[Any]]:
    if not cursor:
        return "", []
    created_at, _, row_id = cursor.partition(".")
    if not (created_at.isdigit() and row_id.isdigit()):
        raise BadQuery("cursor", f"{cursor!r} is not a cursor this API gave")
    return " AND (created_at, id) < (?, ?)", [int(created_at), int(row_id)]


def _page(conn: sqlite3.Connection, sql: str, params: list[Any], limit: int) -> Page:
    rows = conn.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{k: v for k, v in dict(row).items() if k != "id"} for row in rows]
    cursor = f"{rows[-1]['created_at']}.{rows[-1]['id']}" if more else None
    return Page(items, cursor)


def traces(
    conn: sqlite3.Connection, window: Window, filters: Filters, limit: int | None = None, cursor: str | None = None
) -> Page:
    where, params = in_window(window)
    extra, extra_params = filters.clause()
    after, after_params = _after(cursor)
    sql = f"SELECT id, {', '.join(TRACE_LIST_COLUMNS)} FROM llm_traces WHERE {where}{extra}{after}"
    return _page(conn, sql, params + extra_params + after_params, checked_limit(limit, 50))


def trace(conn: sqlite3.Connection, trace_id: str) -> dict[str, Any]:
    """One trace whole: its text and metadata too."""
    # trace_id has no index (random keys would halve the insert rate): scan from the newest,
    # where the calls people look up are, and stop at the one match.
    row = conn.execute("SELECT * FROM llm_traces WHERE trace_id = ? ORDER BY id DESC LIMIT 1", (trace_id,)).fetchone()
    if row is None:
        raise NotFound("trace", trace_id)
    return _whole(row)


def errors(
    conn: sqlite3.Connection,
    window: Window,
    filters: Filters,
    kinds: dict[str, str | None],
    limit: int | None = None,
    cursor: str | None = None,
) -> Page:
    """Error events, filtered by identity and by ``kinds`` (error_type, category, severity)."""
    where, params = in_window(window)
    extra, extra_params = filters.clause(with_status=False)
    kind_sql, kind_params = _kind_clause(kinds)
    after, after_params = _after(cursor)
    sql = f"SELECT id, {', '.join(ERROR_LIST_COLUMNS)} FROM error_events WHERE {where}{extra}{kind_sql}{after}"
    return _page(conn, sql, params + extra_params + kind_params + after_params, checked_limit(limit, 50))


def error_groups(
    conn: sqlite3.Connection, window: Window, filters: Filters, kinds: dict[str, str | None], by: str
) -> list[dict[str, Any]]:
    """Error counts grouped ``by`` category, type, severity or model, most first."""
    column = ERROR_GROUP_KEYS.get(by)
    if column is None:
        raise BadQuery("by", f"unknown key {by!r}: use {', '.join(ERROR_GROUP_KEYS)}")
    where, params = in_window(window)
    extra, extra_params = filters.clause(with_status=False)
    kind_sql, kind_params = _kind_clause(kinds)
    rows = conn.execute(
        f"SELECT {column} AS key, count(*) AS errors, max(created_at) AS last_at FROM error_events"
        f" WHERE {where}{extra}{kind_sql} GROUP BY {column} ORDER BY errors DESC, key",
        params + extra_params + kind_params,
    )
    return [{by: row["key"], "errors": row["errors"], "last_at": row["last_at"]} for row in rows]


def sessions(
    conn: sqlite3.Connection, window: Window, filters: Filters, sort: str = "cost", limit: int | None = None
) -> list[dict[str, Any]]:
    """Sessions with calls in the window: first and last seen, calls, cost, failed calls."""
    order = {"cost": "cost_usd DESC, last_seen DESC", "recent": "last_seen DESC"}.get(sort)
    if order is None:
        raise BadQuery("sort", f"{sort!r}: use cost or recent")
    where, params = in_window(window)
    extra, extra_params = filters.clause()
    rows = conn.execute(
        "SELECT session_id, max(agent_id) AS agent_id, max(channel) AS channel, min(created_at) AS first_seen,"
        " max(created_at) AS last_seen, count(*) AS calls, sum(status = 'error') AS failed_calls,"
        " round(coalesce(sum(CASE WHEN cost_source = 'unpriced' THEN NULL ELSE cost_usd END), 0), 6) AS cost_usd,"
        " sum(cost_source = 'unpriced' OR cost_usd IS NULL) AS unpriced_calls"
        f" FROM llm_traces WHERE {where}{extra} AND session_id IS NOT NULL"
        f" GROUP BY session_id ORDER BY {order} LIMIT ?",
        [*params, *extra_params, checked_limit(limit, 50)],
    )
    return [dict(row) for row in rows]


def session(conn: sqlite3.Connection, session_id: str, window: Window, limit: int | None = None) -> dict[str, Any]:
    """A session's timeline in ``window``: its calls and errors, and the gateway's events of the same minutes.

    There is no session index: with a new session per call, its random keys halved the
    writer's rate on a million rows. The window bounds the scan instead (callers default
    it to the last 24 hours, as for every list).
    """
    cap = checked_limit(limit, 500)
    where, params = in_window(window)
    calls = conn.execute(
        f"SELECT 'call' AS kind, {', '.join(TRACE_LIST_COLUMNS)} FROM llm_traces WHERE {where} AND session_id = ?"
        " ORDER BY created_at LIMIT ?",
        [*params, session_id, cap],
    ).fetchall()
    failures = conn.execute(
        f"SELECT 'error' AS kind, {', '.join(ERROR_LIST_COLUMNS)} FROM error_events WHERE {where} AND session_id = ?"
        " ORDER BY created_at LIMIT ?",
        [*params, session_id, cap],
    ).fetchall()
    if not calls and not failures:
        raise NotFound("session", session_id)
    times = [row["created_at"] for row in [*calls, *failures]]
    span = Window(min(times) - 60_000, max(times) + 60_000)
    span_where, span_params = in_window(span)
    gateway = conn.execute(
        "SELECT 'gateway' AS kind, trace_id, created_at, subsystem, kind AS event, level, message"
        f" FROM gateway_events WHERE {span_where} ORDER BY created_at LIMIT ?",
        [*span_params, cap],
    ).fetchall()
    events = sorted((dict(row) for row in [*calls, *failures, *gateway]), key=lambda e: e["created_at"])
    return {
        "session_id": session_id,
        "first_seen": min(times),
        "last_seen": max(times),
        "calls": len(calls),
        "errors": len(failures),
        "events": events[:cap],
    }


def _kind_clause(kinds: dict[str, str | None]) -> tuple[str, list[Any]]:
    sql, params = "", []
    for name, value in kinds.items():
        if value is None:
            continue
        if name not in ERROR_FIELDS:
            raise BadQuery(name, "not a field of errors")
        allowed = ERROR_FIELDS[name]
        if allowed and value not in allowed:
            raise BadQuery(name, f"{value!r}: use {', '.join(allowed)}")
        sql += f" AND {name} = ?"
        params.append(value)
    return sql, params


def _whole(row: sqlite3.Row) -> dict[str, Any]:
    whole = {key: value for key, value in dict(row).items() if key != "id"}
    if isinstance(whole.get("metadata"), str):
        with contextlib.suppress(ValueError):  # else kept as the text that was stored
            whole["metadata"] = json.loads(whole["metadata"])
    return whole
