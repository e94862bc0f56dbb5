"""The checkpointer copies the WAL back while the writer keeps writing."""

from __future__ import annotations

import os
import time
from pathlib import Path

from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.checkpointer import WalCheckpointer
from openclaw_trace.storage.connection import open_write_connection

ROW = ("p", "m", "x" * 2000, None, 1, 2, 3, None, None, 0.1, "reported", 5.0, "ok", None, None, None, None, None)


def test_wal_is_checkpointed_by_the_thread_not_by_commits(tmp_path: Path) -> None:
    db_path = str(tmp_path / "c.db")
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = WalCheckpointer(db_path, threshold_bytes=256 * 1024, poll_interval_s=0.01)
    checkpointer.start()
    try:
        for batch in range(200):  # ~20 MB of rows
            writes.insert_rows(conn, "trace", [(f"id{batch}-{i}", i, *ROW) for i in range(50)])
            if batch % 20 == 0:
                time.sleep(0.05)  # give the poller its turns, as a real load would
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        assert checkpointer.stop(5)
    assert checkpointer.checkpoints > 0
    assert checkpointer.failures == 0
    # Pages reached the database file itself, not only the WAL.
    assert os.path.getsize(db_path) > 5 * 1024 * 1024
    # The WAL did not grow without bound (20 MB were written through it).
    assert os.path.getsize(db_path + "-wal") < 15 * 1024 * 1024
    assert conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0] == 10_000
    conn.close()


def test_stop_is_idempotent_and_works_unstarted(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "never.db"))
    assert checkpointer.stop(1)
    assert checkpointer.stop(1)
