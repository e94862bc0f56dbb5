"""``GET /api/v1/*``: the read layer over HTTP, with the names and parameters of the CLI.

``/api/v1/summary``, ``cost``, ``traces``, ``trace?id=``, ``errors``,
``sessions`` and ``session?id=`` take ``since``, ``until``, ``tz`` (or
``utc=true``), the filters (``provider``, ``model``, ``agent``, ``session``,
``channel``, ``status``), ``limit`` and each command's own (``by``,
``cursor``, ``sort``, ``type``, ``category``, ``severity``); they answer the
JSON of the CLI's ``--json``. A bad parameter is a 400 naming it, an unknown
id a 404, a database that cannot answer (or a query over its time limit) a
503. See docs/api.md.

Reads never run on the event loop: ``ReadPool`` runs each on one of a few
threads of its own, each with its own read-only connection and a time limit
per query, so a heavy read cannot slow ingest.

Access: when ``OCT_READ_TOKEN`` is set every request needs it as a bearer
token (compared in constant time); without it the daemon listens on loopback
only (``Daemon`` refuses to start otherwise). ``OCT_INGEST_TOKEN`` does not
grant reads: writing is not reading.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from openclaw_trace.api.context import AppContext, Receive, Scope, Send
from openclaw_trace.api.http import HttpError, header, send_error, send_json
from openclaw_trace.read import costs, records
from openclaw_trace.read.filters import Filters
from openclaw_trace.read.problems import BadQuery, NotFound, UnusableDatabase
from openclaw_trace.read.reader import open_reader, time_limit
from openclaw_trace.read.window import Window, parse_window, zone

PREFIX = "/api/v1/"
READ_THREADS = 2
QUERY_TIME_LIMIT_S = 5.0
_COMMON = {"since", "until", "tz", "utc", "limit", "provider", "model", "agent", "session", "channel", "status"}
_FILTER_PARAMS = {"provider": "provider", "model": "model", "agent": "agent_id", "session": "session_id",
                  "channel": "channel", "status": "status"}  # fmt: skip

Query = Callable[[sqlite3.Connection], Any]


class ReadPool:
    """Runs read-layer queries on ``READ_THREADS`` threads, each with its own read-only connection.

    Thread-safe; ``run`` is awaited on the event loop and never blocks it.
    After ``close`` no query runs; the connections are closed.
    """

    def __init__(self, db_path: str, time_limit_s: float = QUERY_TIME_LIMIT_S) -> None:
        self._db_path = db_path
        self._time_limit_s = time_limit_s
        self._executor = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="oct-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def run(self, query: Query) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, query)

    def _call(self, query: Query) -> Any:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_reader(self._db_path)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        with time_limit(conn, self._time_limit_s):
            return query(conn)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _params(scope: Scope, allowed: set[str]) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("utf-8", "replace")
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key not in allowed:
            raise BadQuery(key, f"unknown parameter; this endpoint takes {', '.join(sorted(allowed))}")
        params[key] = value
    return params


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
    filters = Filters(**{field: params.get(name) for name, field in _FILTER_PARAMS.items()})
    return window, filters, tz, now_ms


def _summary(params: dict[str, str]) -> Query:
    window, filters, tz, now_ms = _context(params)
    return lambda conn: costs.summary(conn, window, filters, now_ms, tz).public()


def _cost(params: dict[str, str]) -> Query:
    window, filters, tz, _ = _context(params)
    keys = costs.parse_group_keys(params.get("by", "model"))
    return lambda conn: costs.cost(conn, window, filters, keys, tz, _limit(params))


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
    return lambda conn: records.session(conn, session_id, _limit(params))


# endpoint -> (builds the query from the parameters, the parameters it takes)
ENDPOINTS: dict[str, tuple[Callable[[dict[str, str]], Query], set[str]]] = {
    "summary": (_summary, _COMMON),
    "cost": (_cost, _COMMON | {"by"}),
    "traces": (_traces, _COMMON | {"cursor"}),
    "errors": (_errors, _COMMON | {"by", "cursor", "type", "category", "severity"}),
    "sessions": (_sessions, _COMMON | {"sort"}),
    "trace": (_trace, {"id"}),
    "session": (_session, {"id", "limit"}),
}


async def get_read(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI handler of every ``/api/v1/`` path, reading through ``ctx.reads``."""
    try:
        if scope["method"] not in ("GET", "HEAD"):
            raise HttpError(405, "use GET", [(b"allow", b"GET")])
        _check_read_token(ctx, scope)
        name = scope["path"][len(PREFIX) :]
        endpoint = ENDPOINTS.get(name)
        if endpoint is None or ctx.reads is None:
            raise HttpError(404, f"no such endpoint: {scope['path']} (try {', '.join(ENDPOINTS)})")
        build, allowed = endpoint
        query = build(_params(scope, allowed))
        await send_json(send, 200, await ctx.reads.run(query))
    except BadQuery as exc:
        await send_json(send, 400, {"error": str(exc), "param": exc.param})
    except NotFound as exc:
        await send_json(send, 404, {"error": str(exc)})
    except UnusableDatabase as exc:
        await send_json(send, 503, {"error": str(exc)})
    except HttpError as exc:
        await send_error(send, exc)


def _check_read_token(ctx: AppContext, scope: Scope) -> None:
    token = ctx.config.read_token
    if not token:
        return
    given = header(scope["headers"], b"authorization") or b""
    if not hmac.compare_digest(given, b"Bearer " + token.encode()):
        raise HttpError(401, "missing or wrong bearer token (OCT_READ_TOKEN)", [(b"www-authenticate", b"Bearer")])
