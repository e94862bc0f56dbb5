"""A real database in tmp_path, filled through the storage layer's own inserts with rows we can count by hand."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.read.reader import open_reader
from openclaw_trace.storage import writes
from openclaw_trace.storage.connection import open_write_connection
from openclaw_trace.storage.schema import migrate

NOW_MS = 1_796_000_000_000  # 2026-11-29 something UTC
HOUR_MS = 3_600_000


class Store:
    """Writes rows of any kind with only the fields a test cares about; returns their trace ids."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.conn = open_write_connection(self.path)
        migrate(self.conn)

    def add(self, table_kind: str, created_at: int, **fields: Any) -> str:
        if isinstance(fields.get("metadata"), dict):
            fields["metadata"] = json.dumps(fields["metadata"])
        trace_id = str(uuid.uuid4())
        values = [fields.pop(column, None) for column in writes.COLUMNS[table_kind]]
        assert not fields, f"unknown columns {fields}"
        writes.insert_rows(self.conn, table_kind, [(trace_id, created_at, *values)])
        return trace_id

    def call(self, created_at: int, **fields: Any) -> str:
        row = {"provider": "openai", "model": "gpt-4o", "status": "ok", **fields}
        return self.add("trace", created_at, **row)

    def error(self, created_at: int, **fields: Any) -> str:
        row = {"error_type": "llm_error", "severity": "error", "message": "boom", **fields}
        return self.add("error", created_at, **row)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "oct.db")
    yield made
    made.conn.close()


@pytest.fixture
def reader(store: Store) -> Iterator[sqlite3.Connection]:
    conn = open_reader(store.path)
    yield conn
    conn.close()
