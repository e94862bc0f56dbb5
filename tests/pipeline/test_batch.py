"""BatchWrites on a real SQLite file: the hook that runs between building a batch's rows and writing them."""

from __future__ import annotations

import threading
from pathlib import Path

from openclaw_trace.pipeline.batch import BatchWrites
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import rows
from tests.pipeline.test_writer import traces


def test_before_insert_runs_once_per_batch_after_the_rows_and_before_the_write(tmp_path: Path) -> None:
    db_path = str(tmp_path / "b.db")
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    stored_when_called: list[int] = []
    writes = BatchWrites(
        conn,
        Stats(),
        threading.Event(),
        before_insert=lambda: stored_when_called.append(len(rows(db_path, "SELECT id FROM llm_traces"))),
    )
    try:
        writes.write(traces(50))
        writes.write(traces(20, start=50))
    finally:
        conn.close()
    assert stored_when_called == [0, 50]  # each time, nothing of its own batch was written yet
    assert len(rows(db_path, "SELECT id FROM llm_traces")) == 70
