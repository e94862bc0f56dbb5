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
import contextlib
import hmac
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from openclaw_trace.api.context import AppContext, Receive, Scope, Send
from openclaw_trace.api.http import HttpError, header, send_error, send_json
from openclaw_trace.lifecycle import set_os_thread_name
from openclaw_trace.read import catalog
from openclaw_trace.read.catalog import Query
from openclaw_trace.read.problems import BadQuery, NotFound, UnusableDatabase
from openclaw_trace.read.reader import open_reader, time_limit

PREFIX = "/api/v1/"
READ_THREADS = 2
QUERY_TIME_LIMIT_S = 5.0


class ReadPool:
    """Runs read-layer queries on ``READ_THREADS`` threads, each with its own read-only connection.

    Thread-safe; ``run`` is awaited on the event loop and never blocks it.
    After ``close`` no query runs; the connections are closed.
    """

    def __init__(self, db_path: str, time_limit_s: float = QUERY_TIME_LIMIT_S) -> None:
        self._db_path = db_path
        self._time_limit_s = time_limit_s
        self._executor = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="oct-read", initializer=_reader_thread)
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


# Reads yield the CPU to ingest: on a 2-core host the event loop and the writer need
# both cores under load, and a month's summary is tens of ms of SQLite work.
READ_THREAD_NICENESS = 10


def _reader_thread() -> None:
    set_os_thread_name("oct-read")
    # Linux: the priority of this thread alone (its native id); elsewhere reads keep the daemon's.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READ_THREAD_NICENESS)


def _params(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("utf-8", "replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


async def get_read(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI handler of every ``/api/v1/`` path, reading through ``ctx.reads``."""
    try:
        if scope["method"] not in ("GET", "HEAD"):
            raise HttpError(405, "use GET", [(b"allow", b"GET")])
        _check_read_token(ctx, scope)
        name = scope["path"][len(PREFIX) :]
        if name not in catalog.QUERIES or ctx.reads is None:
            raise HttpError(404, f"no such endpoint: {scope['path']} (try {', '.join(catalog.QUERIES)})")
        query = catalog.build(name, _params(scope))
        await send_json(send, 200, await ctx.reads.run(query))
    except BadQuery as exc:
        await send_json(send, 400, {"error": str(exc), "param": exc.param})
    except NotFound as exc:
        await send_json(send, 404, {"error": str(exc)})
    except UnusableDatabase as exc:
        await send_json(send, 503, {"error": str(exc)})
    except HttpError as exc:
        await send_error(send, exc)


def may_read(ctx: AppContext, scope: Scope) -> bool:
    """Whether this request may read what the daemon holds: no ``OCT_READ_TOKEN`` (then it
    listens on loopback only), or the request carries it."""
    token = ctx.config.read_token
    if not token:
        return True
    given = header(scope["headers"], b"authorization") or b""
    return hmac.compare_digest(given, b"Bearer " + token.encode())


def _check_read_token(ctx: AppContext, scope: Scope) -> None:
    if not may_read(ctx, scope):
        raise HttpError(401, "missing or wrong bearer token (OCT_READ_TOKEN)", [(b"www-authenticate", b"Bearer")])
