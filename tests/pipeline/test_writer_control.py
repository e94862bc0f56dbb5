"""Control calls and bundles on the real writer thread and a real SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.model import Envelope, EventLimits, decode_traces
from openclaw_trace.pipeline.queue import BUNDLE
from openclaw_trace.pipeline.writer import WriterStopped
from tests.conftest import rows
from tests.pipeline.test_writer import Pipeline

STATE_TABLE = "CREATE TABLE IF NOT EXISTS test_position (name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
UPSERT = (
    "INSERT INTO test_position (name, position) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    made = Pipeline(str(tmp_path / "c.db"), 0.05)
    made.conn.execute(STATE_TABLE)
    yield made
    # Some tests stop the writer themselves; the connection is closed either way.
    made.writer.stop(10)
    made.conn.close()


def traces(models: list[str]) -> list[Envelope]:
    body = "[" + ",".join(f'{{"provider":"p","model":"{m}"}}' for m in models) + "]"
    return decode_traces(body.encode(), 1, EventLimits())


def test_call_runs_on_the_writer_thread_in_a_transaction(pipeline: Pipeline) -> None:
    pipeline.queue.offer_many(traces(["a", "b", "c"]))
    assert pipeline.writer.flush(5)

    def mark_pushed(conn: sqlite3.Connection) -> tuple[str, int]:
        cursor = conn.execute("UPDATE llm_traces SET synced = 1, pushed_at = 5 WHERE model != 'b'")
        return threading.current_thread().name, cursor.rowcount

    assert pipeline.writer.call(mark_pushed, 5) == ("oct-writer", 2)
    assert [r["model"] for r in rows(pipeline.db_path, "SELECT model FROM llm_traces WHERE synced = 0")] == ["b"]


def test_a_failing_call_rolls_back_and_raises_to_the_caller(pipeline: Pipeline) -> None:
    pipeline.queue.offer_many(traces(["a"]))
    assert pipeline.writer.flush(5)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM llm_traces")
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        pipeline.writer.call(half_then_fail, 5)
    assert len(rows(pipeline.db_path, "SELECT id FROM llm_traces")) == 1
    assert pipeline.writer.alive


def test_call_without_a_transaction_can_checkpoint(pipeline: Pipeline) -> None:
    result = pipeline.writer.call(
        lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(), 5, transaction=False
    )
    assert result[0] == 0


def test_call_after_stop_is_refused(pipeline: Pipeline) -> None:
    pipeline.close()
    with pytest.raises(WriterStopped):
        pipeline.writer.call(lambda conn: None, 1)


def test_bundle_writes_events_and_statements_in_one_transaction(pipeline: Pipeline) -> None:
    bundle = Envelope(BUNDLE, 1, (tuple(traces(["x", "y"])), ((UPSERT, ("app.log", 120)),)))
    assert pipeline.queue.offer_all([bundle])
    assert pipeline.writer.flush(5)
    assert [r["model"] for r in rows(pipeline.db_path, "SELECT model FROM llm_traces ORDER BY id")] == ["x", "y"]
    assert rows(pipeline.db_path, "SELECT position FROM test_position") == [{"position": 120}]
    snap = pipeline.stats.snapshot()
    assert snap.received == {"trace": 2}
    assert snap.written == {"trace": 2}


def test_a_refused_row_in_a_bundle_still_moves_the_position(pipeline: Pipeline) -> None:
    pipeline.conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON llm_traces WHEN NEW.model = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    bundle = Envelope(BUNDLE, 1, (tuple(traces(["ok1", "bad", "ok2"])), ((UPSERT, ("app.log", 300)),)))
    assert pipeline.queue.offer_all([bundle])
    assert pipeline.writer.flush(5)
    assert [r["model"] for r in rows(pipeline.db_path, "SELECT model FROM llm_traces ORDER BY id")] == ["ok1", "ok2"]
    assert rows(pipeline.db_path, "SELECT position FROM test_position") == [{"position": 300}]
    assert pipeline.stats.snapshot().dropped == {"write_error": {"trace": 1}}


def test_calls_are_served_after_close_until_stop(pipeline: Pipeline) -> None:
    pipeline.queue.offer_many(traces(["a"]))
    pipeline.queue.close()  # intake stopped, as in the daemon's stop before the final push
    assert pipeline.writer.flush(5)
    assert pipeline.writer.call(lambda conn: conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0], 5) == 1
    assert pipeline.writer.alive
    assert pipeline.writer.stop(5)
    with pytest.raises(WriterStopped):
        pipeline.writer.call(lambda conn: None, 1)


def hold_write_lock(db_path: str) -> sqlite3.Connection:
    blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def test_a_locked_bundle_is_retried_not_dropped(pipeline: Pipeline) -> None:
    pipeline.conn.execute("PRAGMA busy_timeout=20")  # get SQLITE_BUSY quickly instead of after 10 s
    blocker = hold_write_lock(pipeline.db_path)
    pipeline.queue.offer_many(traces(["plain"]))
    bundle = Envelope(BUNDLE, 1, (tuple(traces(["in-bundle"])), ((UPSERT, ("app.log", 7)),)))
    assert pipeline.queue.offer_all([bundle])
    ran_while_busy = pipeline.writer.call(lambda conn: "served", 10, transaction=False)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert pipeline.writer.flush(10)
    assert ran_while_busy == "served"  # control tasks are not starved by a retrying batch
    models = sorted(r["model"] for r in rows(pipeline.db_path, "SELECT model FROM llm_traces"))
    assert models == ["in-bundle", "plain"]
    assert rows(pipeline.db_path, "SELECT position FROM test_position") == [{"position": 7}]
    snap = pipeline.stats.snapshot()
    assert snap.received == snap.written == {"trace": 2}
    assert snap.dropped == {}


def test_a_call_that_timed_out_never_runs_later(pipeline: Pipeline) -> None:
    release = threading.Event()
    ran: list[str] = []
    first = threading.Thread(target=lambda: pipeline.writer.call(lambda conn: release.wait(10), 20))
    first.start()  # occupies the writer thread
    with pytest.raises(TimeoutError):
        pipeline.writer.call(lambda conn: ran.append("late"), 0.1)
    release.set()
    first.join(10)
    assert pipeline.writer.call(lambda conn: "after", 5) == "after"
    assert ran == []


def test_a_full_database_during_a_bundles_row_by_row_fallback_retries_it(pipeline: Pipeline) -> None:
    pipeline.conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON llm_traces WHEN NEW.model = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    pages = pipeline.conn.execute("PRAGMA page_count").fetchone()[0]
    pipeline.conn.execute(f"PRAGMA max_page_count={pages + 2}")  # room for a little, not for 200 KB
    limits = EventLimits(max_text_bytes=300_000)
    big = decode_traces(b'{"provider":"p","model":"big","input_text":"' + b"x" * 200_000 + b'"}', 1, limits)
    inner = (*traces(["ok", "bad"]), *big)
    assert pipeline.queue.offer_all([Envelope(BUNDLE, 1, (inner, ((UPSERT, ("app.log", 9)),)))])
    # The writer keeps the bundle and retries; free space through a control call between retries.
    stored = pipeline.writer.call(lambda conn: conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0], 10)
    assert stored == 0
    unlimited = "PRAGMA max_page_count=1073741823"
    pipeline.writer.call(lambda conn: conn.execute(unlimited).fetchone(), 10, transaction=False)
    assert pipeline.writer.flush(10)
    models = sorted(r["model"] for r in rows(pipeline.db_path, "SELECT model FROM llm_traces"))
    assert models == ["big", "ok"]
    assert rows(pipeline.db_path, "SELECT position FROM test_position") == [{"position": 9}]
    assert pipeline.stats.snapshot().dropped == {"write_error": {"trace": 1}}


def test_at_shutdown_a_locked_database_gives_up_counted_and_only_once_per_batch(pipeline: Pipeline) -> None:
    pipeline.conn.execute("PRAGMA busy_timeout=20")  # SQLITE_BUSY after 20 ms instead of 10 s
    blocker = hold_write_lock(pipeline.db_path)
    try:
        for batch in range(4):  # four batches of 50, all stuck behind the lock
            assert pipeline.queue.offer_many(traces([f"m{batch}-{i}" for i in range(50)])) == 50
        assert pipeline.writer.stop(30)  # the backoff waits are cut short by the stop
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    snap = pipeline.stats.snapshot()
    assert snap.dropped == {"write_error": {"trace": 200}}
    assert snap.received == {"trace": 200} and snap.written == {}
    assert pipeline.queue.depth() == 0


def test_a_bundles_events_are_scrubbed_too(tmp_path: Path) -> None:
    made = Pipeline(str(tmp_path / "s.db"), 0.05, scrub_secrets=True)
    made.conn.execute(STATE_TABLE)
    try:
        secret = "ghp_" + "a" * 36
        [event] = decode_traces(
            b'{"provider":"p","model":"m","input_text":"token ' + secret.encode() + b'"}', 1, EventLimits()
        )
        assert made.queue.offer_all([Envelope(BUNDLE, 1, ((event,), ((UPSERT, ("app.log", 7)),)))])
        assert made.writer.flush(5)
        assert rows(made.db_path, "SELECT input_text FROM llm_traces") == [{"input_text": "token [REDACTED]"}]
        assert made.stats.snapshot().counters["scrub.redacted"] == 1
    finally:
        made.close()
