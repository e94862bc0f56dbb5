"""The checkpointer copies the WAL back while the writer keeps writing."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.pipeline.writer import BatchWriter, WriterStopped
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.checkpointer import MIN_FINISH_WAL_FRAMES, WalCheckpointer, writer_pass_due
from openclaw_trace.storage.connection import open_read_connection, open_write_connection

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
            if batch % 20 == 19:
                # Wait for the poller's next checkpoint, however loaded the machine is.
                seen = checkpointer.checkpoints
                deadline = time.monotonic() + 10
                while checkpointer.checkpoints == seen and time.monotonic() < deadline:
                    time.sleep(0.01)
    finally:
        assert checkpointer.stop(5)
    assert checkpointer.checkpoints > 0
    assert checkpointer.failures == 0
    # Pages reached the database file itself, not only the WAL.
    assert os.path.getsize(db_path) > 5 * 1024 * 1024
    # (The bound on the WAL file itself is test_wal_over_the_restart_threshold_is_truncated's.)
    assert conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0] == 10_000
    conn.close()


def test_stop_is_idempotent_and_works_unstarted(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "never.db"))
    assert checkpointer.stop(1)
    assert checkpointer.stop(1)


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.01)


def fresh_db(tmp_path: Path) -> tuple[str, sqlite3.Connection]:
    db_path = str(tmp_path / "w.db")
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return db_path, conn


def write_mb(conn: sqlite3.Connection, batches: int, start: int = 0) -> None:
    for batch in range(start, start + batches):  # ~100 KB per batch
        writes.insert_rows(conn, "trace", [(f"id{batch}-{i}", i, *ROW) for i in range(50)])


def test_wal_over_the_restart_threshold_is_truncated(tmp_path: Path) -> None:
    db_path, conn = fresh_db(tmp_path)
    reader = open_read_connection(db_path)
    # A reader holding an old snapshot keeps every checkpoint from resetting the WAL: it grows.
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM llm_traces").fetchone()
    checkpointer = WalCheckpointer(
        db_path, poll_interval_s=0.01, restart_threshold_bytes=1024 * 1024, restart_retry_s=0.05
    )
    checkpointer.start()
    try:
        write_mb(conn, 40)  # ~4 MB through the WAL
        assert os.path.getsize(db_path + "-wal") > 3 * 1024 * 1024
        wait_for(lambda: checkpointer.truncates_busy > 0)  # tried, the reader kept it busy
        assert checkpointer.truncates == 0
        reader.execute("COMMIT")  # the reader leaves
        wait_for(lambda: checkpointer.truncates > 0)
        assert os.path.getsize(db_path + "-wal") < 64 * 1024
    finally:
        assert checkpointer.stop(5)
        reader.close()
    health = checkpointer.health()
    assert health["truncates"] == checkpointer.truncates > 0
    assert health["last_truncate_wal_bytes"] is not None and health["last_truncate_wal_bytes"] > 1024 * 1024
    assert health["failures"] == 0
    # Nothing was lost on the way.
    assert conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0] == 40 * 50
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_passive_runs_at_least_every_interval_without_writes(tmp_path: Path) -> None:
    db_path, conn = fresh_db(tmp_path)
    write_mb(conn, 1)
    checkpointer = WalCheckpointer(db_path, threshold_bytes=1 << 30, poll_interval_s=0.01, interval_s=0.05)
    checkpointer.start()
    try:
        # One checkpoint for the write, then more with the WAL untouched: only the interval runs them.
        wait_for(lambda: checkpointer.checkpoints >= 4)
    finally:
        assert checkpointer.stop(5)
    assert checkpointer.truncates == 0
    conn.close()


def test_a_small_wal_is_never_truncated(tmp_path: Path) -> None:
    db_path, conn = fresh_db(tmp_path)
    checkpointer = WalCheckpointer(db_path, threshold_bytes=1, poll_interval_s=0.01, interval_s=0.02)
    checkpointer.start()
    try:
        write_mb(conn, 2)
        wait_for(lambda: checkpointer.checkpoints >= 2)
    finally:
        assert checkpointer.stop(5)
    assert checkpointer.truncates == checkpointer.truncates_busy == 0
    conn.close()


def test_under_sustained_writes_the_writer_finishes_each_pass_and_the_wal_restarts(tmp_path: Path) -> None:
    db_path, conn = fresh_db(tmp_path)
    stats = Stats()
    queue = IngestQueue(stats)
    writer = BatchWriter(conn, queue, stats)

    def finish(wal_frames: int) -> bool:  # what the daemon passes (less its queue check)
        try:
            writer.call(lambda c: writes.checkpoint(c, "PASSIVE"), 5.0, transaction=False)
        except WriterStopped:
            return False
        return True

    checkpointer = WalCheckpointer(
        db_path,
        threshold_bytes=256 * 1024,
        poll_interval_s=0.01,
        busy_poll_s=0.005,
        finish=finish,
        rows_written=stats.rows_written,
        threshold_rows=200,
        # No TRUNCATE can shrink the file behind the size check below: between two
        # restarts a starved checkpointer has let 48–50 MB land, past the 50 MB default.
        restart_threshold_bytes=1 << 30,
    )
    writer.start()
    checkpointer.start()
    batches = 600  # ~60 MB through the WAL, offered without pause
    try:
        for batch in range(batches):
            envelopes = [Envelope("trace", batch, ROW) for _ in range(50)]
            while not queue.offer_all(envelopes):  # wait for room rather than drop
                time.sleep(0.001)
            if batch == batches // 2:
                wait_for(lambda: checkpointer.finished_by_writer > 0)
        assert writer.flush(30)
    finally:
        assert writer.stop(10)
        assert checkpointer.stop(5)
    assert stats.snapshot().events_written == batches * 50
    # The passes were finished by the writer, so SQLite restarted the WAL from the
    # top instead of letting it grow with every batch until a TRUNCATE.
    assert checkpointer.finished_by_writer > 0
    # Without restarts the file would hold every frame: the 60 MB of text and its page
    # overhead, ~1.8× that. With them it is as big as the most that landed between two
    # restarts, which on a loaded machine (a starved checkpointer) was seen at 48 MB and
    # once at 62 MB: the bound only tells restarts from none, halfway between the two.
    text_bytes = batches * 50 * len(ROW[2])
    assert os.path.getsize(db_path + "-wal") < 1.4 * text_bytes
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_wal_under_8_mib_never_stops_the_writer(tmp_path: Path) -> None:
    db_path, conn = fresh_db(tmp_path)
    asked: list[int] = []  # the WAL's frames, each time the writer was asked

    def finish(wal_frames: int) -> bool:
        asked.append(wal_frames)
        return True

    checkpointer = WalCheckpointer(db_path, threshold_bytes=64 * 1024, poll_interval_s=0.01, finish=finish)
    checkpointer.start()
    try:
        for batch in range(40):  # ~4 MB: 1,000 frames or so, well under 2,048
            writes.insert_rows(conn, "trace", [(f"id{batch}-{i}", i, *ROW) for i in range(50)])
            if batch % 10 == 9:
                seen = checkpointer.checkpoints
                wait_for(lambda before=seen: checkpointer.checkpoints > before)
    finally:
        assert checkpointer.stop(5)
    # The catch-up passes copy the rest; the WAL restarts by itself once one completes. How
    # often one completes depends on the scheduler: a loaded machine may let the WAL pass
    # 8 MiB, and only then may the writer be asked.
    assert all(frames >= MIN_FINISH_WAL_FRAMES for frames in asked)
    assert checkpointer.finished_by_writer == len(asked)
    assert checkpointer.failures == 0
    conn.close()


def test_the_writer_is_asked_only_when_its_pass_is_due(tmp_path: Path) -> None:
    db_path, conn = fresh_db(tmp_path)
    consulted: list[int] = []
    asked: list[int] = []  # one entry per time the writer was asked

    def pass_due(wal_frames: int) -> bool:  # the daemon asks its queue; here: never due
        consulted.append(wal_frames)
        return False

    def finish(wal_frames: int) -> bool:
        asked.append(1)
        return True

    checkpointer = WalCheckpointer(
        db_path, threshold_bytes=64 * 1024, poll_interval_s=0.01, finish=finish, pass_due=pass_due
    )
    checkpointer.start()
    try:
        batch = 0
        # Write until the WAL is big enough for the writer's pass to be considered.
        while not consulted:
            write_mb(conn, 10, start=batch)
            batch += 10
            assert batch < 2000, "the writer's pass was never considered"
    finally:
        assert checkpointer.stop(5)
    assert min(consulted) >= MIN_FINISH_WAL_FRAMES
    assert asked == []
    assert checkpointer.finished_by_writer == 0
    conn.close()


@pytest.mark.parametrize(
    ("depth", "frames", "due"),
    [
        (0, 2048, True),  # nothing waits: now
        (128, 2048, True),  # a quarter of the queue: still now
        (129, 2048, False),  # deeper: leave it to a later pass
        (512, 4095, False),
        (512, 4096, True),  # the WAL has grown: now, however deep the queue
    ],
)
def test_the_writers_pass_waits_for_a_shallow_queue_while_the_wal_is_small(depth: int, frames: int, due: bool) -> None:
    assert writer_pass_due(depth, 512, frames) is due


def write_until(conn: sqlite3.Connection, done: Callable[[], bool]) -> None:
    """Write ~1 MB at a time until ``done()``, while the checkpointer works beside."""
    batch = 0
    while not done():
        write_mb(conn, 10, start=batch)
        batch += 10
        assert batch < 2000, "the checkpointer never got there"


def test_a_failed_flush_skips_the_writers_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_path, conn = fresh_db(tmp_path)
    flushes: list[int] = []
    asked: list[int] = []

    def failing_fdatasync(fd: int) -> None:  # as a disk that fails its writes (EIO) would
        flushes.append(fd)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def finish(wal_frames: int) -> bool:
        asked.append(wal_frames)
        return True

    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    checkpointer = WalCheckpointer(db_path, threshold_bytes=64 * 1024, poll_interval_s=0.01, finish=finish)
    checkpointer.start()
    try:
        write_until(conn, lambda: checkpointer.failures > 0)
    finally:
        assert checkpointer.stop(5)
    assert flushes, "the flush before the writer's pass was never tried"
    assert asked == []  # the WAL keeps the frames: the writer never copied over a failed flush
    assert checkpointer.finished_by_writer == 0
    assert checkpointer.failures == len(flushes)
    conn.close()


def test_a_descriptor_closed_under_the_checkpointer_is_let_go_and_the_writers_pass_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path, conn = fresh_db(tmp_path)
    flushes: list[int] = []
    asked: list[int] = []

    def closed_fdatasync(fd: int) -> None:
        flushes.append(fd)
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def finish(wal_frames: int) -> bool:
        asked.append(wal_frames)
        return True

    monkeypatch.setattr(os, "fdatasync", closed_fdatasync)
    checkpointer = WalCheckpointer(db_path, threshold_bytes=64 * 1024, poll_interval_s=0.01, finish=finish)
    checkpointer.start()
    try:
        write_until(conn, lambda: len(asked) >= 2)
    finally:
        assert checkpointer.stop(5)
    assert len(flushes) == 1  # let go at once: no flush of its own from then on
    assert checkpointer.finished_by_writer == len(asked)
    assert checkpointer.failures == 0
    conn.close()
