"""SQL that writes. Every function takes the connection; only the writer calls them.

Rows are inserted with one multi-row ``INSERT`` per table and batch. That is
one ``sqlite3_step`` for the whole batch: CPython's sqlite3 module releases
the GIL around each step, and a thread that has released the GIL may wait a
whole switch interval (5 ms) to get it back from a busy event loop. One
step per batch instead of one per row is what keeps the writer fed while
the HTTP loop is saturated.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

from openclaw_trace.storage import rollups
from openclaw_trace.storage.connection import immediate_transaction

# Column order of the values that follow (trace_id, created_at) in a row;
# model.trace_envelope / error_envelope build their tuples in this order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "trace": (
        "provider",
        "model",
        "input_text",
        "output_text",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "cost_source",
        "latency_ms",
        "status",
        "error_type",
        "session_id",
        "agent_id",
        "channel",
        "metadata",
    ),
    "error": (
        "error_type",
        "category",
        "severity",
        "message",
        "stack_trace",
        "provider",
        "model",
        "session_id",
        "agent_id",
        "channel",
        "metadata",
    ),
    "system_metric": (
        "source",
        "cpu_percent",
        "mem_used_bytes",
        "mem_available_bytes",
        "mem_total_bytes",
        "disk_total_bytes",
        "disk_used_bytes",
        "disk_free_bytes",
        "disk_percent",
        "io_read_bytes",
        "io_write_bytes",
        "metadata",
    ),
    "gateway_event": (
        "subsystem",
        "kind",
        "level",
        "message",
        "attributes",
        "metadata",
    ),
    "metric_point": (
        "name",
        "unit",
        "kind",
        "value",
        "attributes",
        "service_name",
        "metadata",
    ),
}

# Event kind -> its table; in this order upkeep visits and push sends them.
TABLES: dict[str, str] = {
    "trace": "llm_traces",
    "error": "error_events",
    "system_metric": "system_metrics",
    "metric_point": "otel_metrics",
    "gateway_event": "gateway_events",
}


@functools.lru_cache(maxsize=256)
def insert_sql(kind: str, row_count: int) -> str:
    """``INSERT INTO <table> (...) VALUES (...), (...)`` for ``row_count`` rows."""
    columns = ("trace_id", "created_at", *COLUMNS[kind])
    one_row = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO {TABLES[kind]} ({', '.join(columns)}) VALUES " + ", ".join([one_row] * row_count)


def insert_rows(conn: sqlite3.Connection, kind: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert full rows ``(trace_id, created_at, *values)`` of one kind in one statement.

    In autocommit mode the statement is its own transaction: all rows or none.
    """
    params: list[Any] = []
    for row in rows:
        params.extend(row)
    conn.execute(insert_sql(kind, len(rows)), params)


# The log's and OTLP's model-call errors, and OTLP's traces, of runs (W3C trace ids)
# the plugin reported: see pipeline/supersede.py. The scans cover the recent unsynced
# rows through the (synced, created_at) indexes.
_SUPERSEDE_ERRORS = """
DELETE FROM error_events
WHERE synced = 0 AND created_at >= :since
  AND error_type IN ('llm_error', 'crash')
  AND json_extract(metadata, '$.source') IN ('gateway_log', 'otlp')
  AND json_extract(metadata, '$.trace_id') IN (
      SELECT json_extract(metadata, '$.w3c_trace_id') FROM error_events
      WHERE synced = 0 AND created_at >= :since AND json_extract(metadata, '$.source') = 'openclaw-plugin'
      UNION
      SELECT json_extract(metadata, '$.w3c_trace_id') FROM llm_traces
      WHERE synced = 0 AND created_at >= :since AND json_extract(metadata, '$.source') = 'openclaw-plugin')
"""
# OTLP's traces of runs the plugin reported (``t`` is the row considered), once the rollups count
# them (a row past the mark is in the writer's sums for the next fold; a later pass takes it).
_SUPERSEDED_TRACE = """
t.synced = 0 AND t.created_at >= :since AND t.id <= (SELECT rolled_to_id FROM rollup_state)
AND json_extract(t.metadata, '$.source') = 'otlp'
AND json_extract(t.metadata, '$.trace_id') IN (
    SELECT json_extract(metadata, '$.w3c_trace_id') FROM llm_traces
    WHERE synced = 0 AND created_at >= :since AND json_extract(metadata, '$.source') = 'openclaw-plugin')
"""


def supersede_duplicates(conn: sqlite3.Connection, since_ms: int) -> int:
    """Delete other feeds' rows about runs the plugin reported since ``since_ms``; how many.

    The deleted traces leave the hourly rollups in the same transaction (they counted them).
    """
    params = {"since": since_ms}
    deleted = int(conn.execute(_SUPERSEDE_ERRORS, params).rowcount)
    if conn.execute(f"SELECT 1 FROM llm_traces AS t WHERE {_SUPERSEDED_TRACE} LIMIT 1", params).fetchone() is None:
        return deleted
    with contextlib.nullcontext() if conn.in_transaction else immediate_transaction(conn):
        for statement in rollups.subtract_statements(_SUPERSEDED_TRACE):
            conn.execute(statement, params)
        deleted += int(conn.execute(f"DELETE FROM llm_traces AS t WHERE {_SUPERSEDED_TRACE}", params).rowcount)
    return deleted


def count_unsynced(conn: sqlite3.Connection, tables: Sequence[str]) -> int:
    """Rows not yet pushed, over ``tables`` (uses the ``(synced, created_at)`` index)."""
    return sum(int(conn.execute(f"SELECT count(*) FROM {table} WHERE synced = 0").fetchone()[0]) for table in tables)


def checkpoint(conn: sqlite3.Connection, mode: str = "TRUNCATE") -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(mode)`` → (busy, wal frames, frames checkpointed)."""
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    busy, log, done = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(busy), int(log), int(done)


def mark_pushed(conn: sqlite3.Connection, table: str, pushed_at_ms: int, id_list: str, trace_id_list: str) -> int:
    """Mark the rows of ``table`` whose ids are in both JSON lists as pushed; the count.

    The trace_id check keeps a reused id (a deleted row's) from being marked.
    """
    if table not in TABLES.values():
        raise ValueError(f"unknown data table {table!r}")
    cursor = conn.execute(
        f"UPDATE {table} SET synced = 1, pushed_at = ?"
        " WHERE synced = 0 AND id IN (SELECT value FROM json_each(?))"
        " AND trace_id IN (SELECT value FROM json_each(?))",
        (pushed_at_ms, id_list, trace_id_list),
    )
    return int(cursor.rowcount)


def record_push_cycle(conn: sqlite3.Connection, row: Sequence[Any]) -> None:
    """Insert one ``push_log`` row: (started_at, duration_ms, status, endpoint, format, events, batches,
    bytes, http_status, error)."""
    conn.execute(
        "INSERT INTO push_log (started_at, duration_ms, status, endpoint, format, events, batches,"
        " bytes, http_status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )


def record_books(conn: sqlite3.Connection, row: Sequence[Any]) -> None:
    """Insert one ``ingest_books`` row: (at, started_at, received, written, dropped, dropped_by_reason JSON,
    queue_depth)."""
    conn.execute(
        "INSERT INTO ingest_books (at, started_at, received, written, dropped, dropped_by_reason, queue_depth)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        row,
    )
