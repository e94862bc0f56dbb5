"""BatchWriter with a real SQLite file: batch policy, refused rows, drain and stop."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.model import Envelope, EventLimits, decode_errors, decode_traces
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.pipeline.writer import BatchWriter
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import rows


class Pipeline:
    def __init__(self, db_path: str, window_s: float, scrub_secrets: bool = False) -> None:
        self.db_path = db_path
        self.stats = Stats()
        self.queue = IngestQueue(self.stats, batch_window_s=window_s)
        self.conn = open_write_connection(db_path)
        schema.migrate(self.conn)
        self.writer = BatchWriter(self.conn, self.queue, self.stats, scrub_secrets)
        self.writer.start()

    def close(self) -> None:
        assert self.writer.stop(10)
        self.conn.close()

    def count(self, table: str = "llm_traces") -> int:
        return len(rows(self.db_path, f"SELECT id FROM {table}"))


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Iterator[type[Pipeline]]:
    made: list[Pipeline] = []

    def make(window_s: float = 0.5) -> Pipeline:
        made.append(Pipeline(str(tmp_path / "w.db"), window_s))
        return made[-1]

    yield make  # type: ignore[misc]
    for pipeline in made:
        pipeline.close()


def traces(count: int, start: int = 0) -> list[Envelope]:
    body = "[" + ",".join(f'{{"provider":"p","model":"m{i}"}}' for i in range(start, start + count)) + "]"
    return decode_traces(body.encode(), 1, EventLimits())


def wait_for(predicate: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_full_batch_of_50_commits_without_waiting_for_the_window(make_pipeline: type[Pipeline]) -> None:
    pipeline = make_pipeline(window_s=600)  # only the size trigger can commit
    pipeline.queue.offer_many(traces(50))
    assert wait_for(lambda: pipeline.count() == 50)


def test_fewer_than_50_wait_for_the_window_then_commit(make_pipeline: type[Pipeline]) -> None:
    pipeline = make_pipeline(window_s=1.0)
    pipeline.queue.offer_many(traces(10))
    time.sleep(0.2)
    assert pipeline.count() == 0  # the window has not elapsed: nothing committed yet
    assert wait_for(lambda: pipeline.count() == 10)


def test_mixed_kinds_in_one_batch(make_pipeline: type[Pipeline]) -> None:
    pipeline = make_pipeline()
    pipeline.queue.offer_many(traces(3))
    pipeline.queue.offer_many(decode_errors(b'[{"error_type":"crash","message":"x"}]', 1, EventLimits()))
    assert pipeline.writer.flush(10)
    assert pipeline.count() == 3
    assert pipeline.count("error_events") == 1
    assert pipeline.stats.snapshot().written == {"trace": 3, "error": 1}


def test_a_row_sqlite_refuses_does_not_take_its_batch_down(make_pipeline: type[Pipeline]) -> None:
    pipeline = make_pipeline()
    # A real refusal from SQLite itself, for one row of the batch.
    refuse = (
        "CREATE TRIGGER refuse BEFORE INSERT ON llm_traces WHEN NEW.model = 'm3' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
    )
    other = open_write_connection(pipeline.db_path)
    other.execute(refuse)
    other.close()
    pipeline.queue.offer_many(traces(10))
    assert pipeline.writer.flush(10)
    models = [r["model"] for r in rows(pipeline.db_path, "SELECT model FROM llm_traces ORDER BY id")]
    assert models == [f"m{i}" for i in range(10) if i != 3]
    snap = pipeline.stats.snapshot()
    assert snap.dropped == {"write_error": {"trace": 1}}
    assert snap.written == {"trace": 9}
    assert snap.unsynced == 9
    assert pipeline.writer.alive


def test_drained_before_stop_and_refused_after(make_pipeline: type[Pipeline]) -> None:
    pipeline = make_pipeline(window_s=600)
    pipeline.queue.offer_many(traces(7))
    assert pipeline.writer.stop(10)
    assert pipeline.count() == 7
    assert not pipeline.queue.offer(traces(1)[0])
    assert pipeline.stats.snapshot().dropped == {"shutdown": {"trace": 1}}


def test_stop_is_idempotent(make_pipeline: type[Pipeline]) -> None:
    pipeline = make_pipeline()
    assert pipeline.writer.stop(5)
    assert pipeline.writer.stop(5)


def test_unsynced_count_starts_from_the_database(tmp_path: Path) -> None:
    first = Pipeline(str(tmp_path / "u.db"), 0.5)
    first.queue.offer_many(traces(5))
    first.close()
    second = Pipeline(str(tmp_path / "u.db"), 0.5)
    try:
        assert second.stats.snapshot().unsynced == 5
    finally:
        second.close()


def test_start_and_stop_50_times_leaks_no_thread_or_file(tmp_path: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    Pipeline(str(tmp_path / "l.db"), 0.5).close()  # warm up lazily opened files
    threads, fds = threading.active_count(), open_fds()
    for i in range(50):
        pipeline = Pipeline(str(tmp_path / "l.db"), 0.5)
        pipeline.queue.offer_many(traces(2, start=i))
        pipeline.close()
    assert threading.active_count() == threads
    assert open_fds() == fds
    assert len(rows(str(tmp_path / "l.db"), "SELECT id FROM llm_traces")) == 100
