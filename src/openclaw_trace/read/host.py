"""The host's metric samples and the push log, as the read layer gives them."""

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
