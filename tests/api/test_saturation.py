"""A stuck writer: the queue holds exactly 512, the rest are counted drops, no handler waits."""

from __future__ import annotations

import sqlite3

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows


def test_600_events_with_the_writer_held_back(daemon: Daemon, client: Client) -> None:
    blocker = sqlite3.connect(daemon.config.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer waits on it
    try:
        answers = [client.post("/v1/traces", {"provider": "p", "model": f"m{i}"}) for i in range(600)]
        assert all(status == 202 for status, _ in answers)
        assert sum(body["queued"] for _, body in answers) == 512
        assert sum(body["dropped"] for _, body in answers) == 88
        # The first 512 were queued, in order; everything after was dropped.
        assert [body["queued"] for _, body in answers[:512]] == [1] * 512
        report = client.health()
        assert report["queue_depth"] == 512
        assert report["events_received"] == 600
        assert report["dropped_by_reason"]["queue_full"] == 88
        assert report["events_dropped"] == 88
        assert report["events_written"] == 0
        assert report["status"] == "degraded"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert daemon.writer.flush(30)
    stored = rows(daemon.config.db_path, "SELECT model FROM llm_traces ORDER BY id")
    assert [r["model"] for r in stored] == [f"m{i}" for i in range(512)]
    report = client.health()
    assert report["queue_depth"] == 0
    assert report["events_written"] == 512
    assert report["events_received"] == report["events_written"] + report["events_dropped"]


def test_a_batched_request_is_split_at_the_queue_edge(daemon: Daemon, client: Client) -> None:
    blocker = sqlite3.connect(daemon.config.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        first = client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 500)
        second = client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 50)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert first == (202, {"received": 500, "queued": 500, "dropped": 0})
    assert second == (202, {"received": 50, "queued": 12, "dropped": 38})
    assert daemon.writer.flush(30)
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 512
