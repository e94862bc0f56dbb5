"""WriterProcess with a real SQLite file and a real forked child: batches, calls, saturation, a dying child."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.pipeline.writer import WriterStopped
from openclaw_trace.pipeline.writer_process import WriterProcess
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import rows

TRACE_VALUES = ("openai", "gpt-4o", "in", "out", 1, 2, 3, None, None, 0.01, "reported", 12.5, "ok", None)
TRACE_VALUES += ("sess", "agent", "slack", "{}")


def trace(i: int) -> Envelope:
    return Envelope("trace", 1_700_000_000_000 + i, TRACE_VALUES)


class ProcessPipeline:
    def __init__(self, db_path: str, window_s: float = 0.05) -> None:
        self.db_path = db_path
        conn = open_write_connection(db_path)
        schema.migrate(conn)
        conn.close()  # no connection may be open across the fork
        self.stats = Stats()
        self.queue = IngestQueue(self.stats, batch_window_s=window_s)
        self.writer = WriterProcess(db_path, self.queue, self.stats)
        self.writer.start()

    def count(self) -> int:
        return len(rows(self.db_path, "SELECT id FROM llm_traces"))


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[ProcessPipeline]:
    made = ProcessPipeline(str(tmp_path / "p.db"))
    yield made
    assert made.writer.stop(10)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def count_traces(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0])


def test_batches_land_in_the_child_and_its_counters_reach_stats(pipeline: ProcessPipeline) -> None:
    assert pipeline.queue.offer_many([trace(i) for i in range(120)]) == 120
    assert pipeline.writer.flush(10)
    snapshot = pipeline.stats.snapshot()
    assert snapshot.written == {"trace": 120}
    assert snapshot.unsynced == 120
    assert pipeline.queue.depth() == 0
    assert pipeline.count() == 120
    assert pipeline.writer.pid is not None and pipeline.writer.pid != os.getpid()


def test_a_call_runs_in_the_child_and_returns_its_result_or_its_error(pipeline: ProcessPipeline) -> None:
    pipeline.queue.offer_many([trace(i) for i in range(3)])
    assert pipeline.writer.flush(10)
    assert pipeline.writer.call(count_traces, 10) == 3
    assert pipeline.writer.call(functools.partial(writes.checkpoint, mode="PASSIVE"), 10, transaction=False)[0] == 0
    with pytest.raises(ValueError, match="unknown data table"):
        pipeline.writer.call(functools.partial(writes.mark_pushed, table="nope", pushed_at_ms=1, id_list="[]",
                                               trace_id_list="[]"), 10)  # fmt: skip
    with pytest.raises(TypeError, match="must pickle"):
        pipeline.writer.call(lambda conn: 1, 10)
    assert pipeline.writer.alive  # neither failure hurt the writer


def test_saturation_holds_512_and_drops_88_while_the_database_is_locked(pipeline: ProcessPipeline) -> None:
    blocker = sqlite3.connect(pipeline.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        queued = sum(pipeline.queue.offer(trace(i)) for i in range(600))
        assert queued == 512
        assert pipeline.stats.snapshot().dropped == {"queue_full": {"trace": 88}}
        assert pipeline.queue.depth() == 512
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert pipeline.writer.flush(30)
    assert pipeline.count() == 512
    snapshot = pipeline.stats.snapshot()
    assert snapshot.events_received == snapshot.events_written + snapshot.events_dropped == 600


def test_a_killed_child_is_shown_and_what_it_held_is_counted_as_write_errors(tmp_path: Path) -> None:
    made = ProcessPipeline(str(tmp_path / "k.db"))
    made.queue.offer_many([trace(i) for i in range(50)])
    assert made.writer.flush(10)
    assert made.writer.pid is not None
    os.kill(made.writer.pid, signal.SIGKILL)
    wait_for(lambda: not made.writer.alive)
    assert not made.stats.snapshot().writer_alive
    # Later events are not held forever: they are settled as write errors at once.
    made.queue.offer_many([trace(i) for i in range(30)])
    assert made.writer.flush(10)
    snapshot = made.stats.snapshot()
    assert snapshot.written == {"trace": 50}
    assert snapshot.dropped == {"write_error": {"trace": 30}}
    assert snapshot.events_received == snapshot.events_written + snapshot.events_dropped
    with pytest.raises(WriterStopped):
        made.writer.call(count_traces, 5)
    assert made.writer.stop(5)


def test_stop_drains_then_the_child_exits_and_stop_is_idempotent(tmp_path: Path) -> None:
    made = ProcessPipeline(str(tmp_path / "s.db"), window_s=5.0)  # only the stop can end the window
    made.queue.offer_many([trace(i) for i in range(7)])
    assert made.writer.stop(10)
    assert made.count() == 7
    assert made.stats.snapshot().written == {"trace": 7}
    pid = made.writer.pid
    assert pid is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped
    assert made.writer.stop(1)
    with pytest.raises(WriterStopped):
        made.writer.call(count_traces, 1)
    assert not made.queue.offer(trace(0))  # after stop: a counted shutdown drop
    assert made.stats.snapshot().dropped == {"shutdown": {"trace": 1}}


class TwoPartError(Exception):
    """Pickles in the child but cannot be rebuilt from its args in the daemon."""

    def __init__(self, part: str, other: str) -> None:
        super().__init__(f"{part}/{other}")


def raise_two_part(conn: sqlite3.Connection) -> None:
    raise TwoPartError("a", "b")


def return_cursor(conn: sqlite3.Connection) -> sqlite3.Cursor:
    return conn.execute("SELECT 1")


def test_a_result_or_error_the_daemon_cannot_unpickle_becomes_a_runtime_error(pipeline: ProcessPipeline) -> None:
    with pytest.raises(RuntimeError, match="TwoPartError: a/b"):
        pipeline.writer.call(raise_two_part, 10)
    with pytest.raises(RuntimeError, match="Cursor"):
        pipeline.writer.call(return_cursor, 10, transaction=False)
    assert pipeline.writer.alive
    assert pipeline.writer.call(count_traces, 10) == 0


@pytest.mark.slow
def test_a_retrying_child_shows_in_health_and_if_killed_its_batch_is_counted_lost(tmp_path: Path) -> None:
    made = ProcessPipeline(str(tmp_path / "r.db"))
    blocker = sqlite3.connect(made.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        made.queue.offer_many([trace(i) for i in range(40)])
        # SQLite gives up after its busy_timeout (10 s); the child then retries, and says
        # so at once, before the batch is settled.
        wait_for(lambda: made.stats.snapshot().writer_failures > 0, timeout_s=30)
        assert made.stats.snapshot().written == {}
        assert made.writer.pid is not None
        os.kill(made.writer.pid, signal.SIGKILL)
        wait_for(lambda: not made.writer.alive)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert made.writer.flush(10)  # their slots were released
    snapshot = made.stats.snapshot()
    assert snapshot.written == {}
    assert snapshot.dropped == {"write_error": {"trace": 40}}
    assert snapshot.events_received == snapshot.events_written + snapshot.events_dropped
    assert made.count() == 0
    assert made.writer.stop(5)


def test_a_child_that_cannot_open_the_database_fails_the_start_and_leaves_nothing(tmp_path: Path) -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    stats = Stats()
    queue = IngestQueue(stats)
    not_a_db = tmp_path / "a-directory"
    not_a_db.mkdir()
    writer = WriterProcess(str(not_a_db), queue, stats)
    with pytest.raises(RuntimeError, match="failed to start"):
        writer.start()
    with pytest.raises(WriterStopped):
        writer.call(count_traces, 1)
    assert writer.stop(1)
    assert len(os.listdir("/proc/self/fd")) == fds_before
