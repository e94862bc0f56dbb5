"""The host's metric samples, the push log and the ingest books over time, as the read layer gives them."""

from __future__ import annotations

import contextlib
import datetime
import json
import sqlite3
from typing import Any

from openclaw_trace.read.filters import checked_limit
from openclaw_trace.storage import writes

METRIC_COLUMNS = ("created_at", *writes.COLUMNS["system_metric"])


def metrics(conn: sqlite3.Connection, since_ms: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` host samples at or after ``since_ms``, oldest first, metadata parsed."""
    rows = conn.execute(
        f"SELECT {', '.join(METRIC_COLUMNS)} FROM system_metrics WHERE created_at >= ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (since_ms, checked_limit(limit, 20)),
    ).fetchall()
    samples = []
    for row in reversed(rows):
        sample = dict(zip(METRIC_COLUMNS, tuple(row), strict=True))
        sample["time"] = datetime.datetime.fromtimestamp(sample["created_at"] / 1000, datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        with contextlib.suppress(ValueError):  # not JSON: keep the text as stored
            sample["metadata"] = json.loads(sample["metadata"]) if sample["metadata"] else {}
        samples.append(sample)
    return samples


def push_cycles(conn: sqlite3.Connection, limit: int | None = None) -> list[dict[str, Any]]:
    """The most recent push cycles, newest first."""
    cursor = conn.execute(
        "SELECT * FROM push_log ORDER BY started_at DESC, id DESC LIMIT ?", (checked_limit(limit, 20),)
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, tuple(row), strict=True)) for row in cursor.fetchall()]


def books(conn: sqlite3.Connection, since_ms: int, until_ms: int, limit: int | None = None) -> list[dict[str, Any]]:
    """The ingest books a minute apart, oldest first: the daemon's counters and, per row, what moved since the
    row before (``*_delta``; counters restart with the daemon, ``started_at``)."""
    rows = conn.execute(
        "SELECT at, started_at, received, written, dropped, dropped_by_reason, queue_depth FROM ingest_books"
        " WHERE at >= ? AND at < ? ORDER BY at DESC LIMIT ?",
        (since_ms, until_ms, checked_limit(limit, 1000)),
    ).fetchall()
    found: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for row in reversed(rows):
        entry = dict(zip(("at", "started_at", "received", "written", "dropped", "dropped_by_reason", "queue_depth"),
                         tuple(row), strict=True))  # fmt: skip
        entry["dropped_by_reason"] = json.loads(entry["dropped_by_reason"])
        same_run = previous is not None and previous["started_at"] == entry["started_at"]
        for name in ("received", "written", "dropped"):
            entry[f"{name}_delta"] = entry[name] - previous[name] if same_run and previous else entry[name]
        found.append(entry)
        previous = entry
    return found
