"""A real store for push tests: a SQLite file in tmp_path, the real queue and the real single writer."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest

from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.pipeline.writer import BatchWriter
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import rows

ALL_KINDS = ("trace", "error", "system_metric", "metric_point", "gateway_event")


def sample_values(kind: str, i: int, text: str = "") -> tuple[Any, ...]:
    """Column values of one row of ``kind`` (order of ``writes.COLUMNS``)."""
    meta = json.dumps({"i": i, "tag": "t"})
    if kind == "trace":
        by_name: dict[str, Any] = {
            "provider": "anthropic",
            "model": f"claude-{i % 3}",
            "input_text": text or f"question {i}",
            "output_text": f"answer {i}",
            "prompt_tokens": 10 + i,
            "completion_tokens": 5 + i,
            "total_tokens": 15 + 2 * i,
            "cache_read_tokens": 2,
            "cache_write_tokens": None,
            "cost_usd": 0.001 * i,
            "cost_source": "computed",
            "latency_ms": 250.0,
            "status": "error" if i % 5 == 4 else "ok",
            "error_type": "rate_limit" if i % 5 == 4 else None,
            "session_id": f"s{i % 2}",
            "agent_id": "agent-1",
            "channel": "telegram",
            "metadata": meta,
        }
    elif kind == "error":
        by_name = {
            "error_type": "llm_error",
            "category": "rate_limit",
            "severity": "error",
            "message": text or f"rate limited {i}",
            "stack_trace": "Traceback ...",
            "provider": "openai",
            "model": "gpt-4o",
            "session_id": "s1",
            "agent_id": "agent-1",
            "channel": None,
            "metadata": meta,
        }
    elif kind == "system_metric":
        by_name = {
            "source": "host",
            "cpu_percent": 12.5,
            "mem_used_bytes": 1000,
            "mem_available_bytes": 3000,
            "mem_total_bytes": 4000,
            "disk_total_bytes": 10_000,
            "disk_used_bytes": 4_000,
            "disk_free_bytes": 6_000,
            "disk_percent": 40.0,
            "io_read_bytes": 11,
            "io_write_bytes": 22,
            "metadata": None,
        }
    elif kind == "metric_point":
        by_name = {
            "name": "openclaw.tokens",
            "unit": "{token}",
            "kind": "sum",
            "value": float(i),
            "attributes": json.dumps({"openclaw.channel": "telegram"}),
            "service_name": "openclaw-gateway",
            "metadata": None,
        }
    else:
        by_name = {
            "subsystem": "channels",
            "kind": "channel_disconnect",
            "level": "warn",
            "message": f"telegram disconnected {i}",
            "attributes": json.dumps({"channel": "telegram"}),
            "metadata": None,
        }
    return tuple(by_name[c] for c in writes.COLUMNS[kind])


@dataclasses.dataclass
class Store:
    db_path: str
    queue: IngestQueue
    writer: BatchWriter
    stats: Stats

    def add(self, kind: str, count: int, text: str = "") -> None:
        now = time.time_ns() // 1_000_000
        envelopes = [Envelope(kind, now, sample_values(kind, i, text)) for i in range(count)]
        for start in range(0, count, 256):
            assert self.queue.offer_many(envelopes[start : start + 256]) == len(envelopes[start : start + 256])
            assert self.writer.flush(10)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return rows(self.db_path, sql, params)

    def unsynced(self) -> int:
        return sum(len(self.rows(f"SELECT id FROM {t} WHERE synced = 0")) for t in schema.DATA_TABLES)

    def all_rows(self) -> list[dict[str, Any]]:
        out = []
        for table in schema.DATA_TABLES:
            out += [{"table": table, **r} for r in self.rows(f"SELECT * FROM {table}")]
        return out


@pytest.fixture
def store(tmp_path: Any) -> Iterator[Store]:
    db_path = str(tmp_path / "push.db")
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    stats = Stats()
    queue = IngestQueue(stats)
    writer = BatchWriter(conn, queue, stats)
    writer.start()
    yield Store(db_path, queue, writer, stats)
    queue.close()
    writer.stop(10)
    conn.close()


def synced_count(db_path: str) -> int:
    """Rows marked pushed right now, over every data table (for the receiver's on_request hook)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return sum(
            int(conn.execute(f"SELECT count(*) FROM {t} WHERE synced = 1").fetchone()[0]) for t in schema.DATA_TABLES
        )
    finally:
        conn.close()
