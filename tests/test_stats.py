"""Stats on its own: the books (received, written, dropped by reason), the writer's health, named counters, feeds."""

from __future__ import annotations

import threading

from openclaw_trace.stats import DROP_REASONS, Stats


def test_a_fresh_stats_has_empty_books_and_a_writer_not_yet_alive() -> None:
    snapshot = Stats().snapshot()
    assert (snapshot.events_received, snapshot.events_written, snapshot.events_dropped) == (0, 0, 0)
    assert snapshot.dropped_by_reason() == dict.fromkeys(DROP_REASONS, 0)
    assert snapshot.last_queue_full_ms is None
    assert (snapshot.writer_alive, snapshot.writer_failures, snapshot.writer_last_error) == (False, 0, None)
    assert (snapshot.unsynced, snapshot.counters, snapshot.feeds) == (0, {}, {})


def test_the_books_by_kind_and_reason_add_up() -> None:
    stats = Stats()
    with stats.lock:  # as the ingest queue counts what it is offered
        stats.record_received_locked("trace", 7)
        stats.record_received_locked("error", 2)
        stats.record_received_locked("trace", 3)
    stats.record_written("trace", 6)
    stats.record_dropped("trace", "shutdown", 4)
    stats.record_dropped("error", "write_error")
    stats.record_dropped("error", "write_error")
    snapshot = stats.snapshot()
    assert snapshot.received == {"trace": 10, "error": 2}
    assert snapshot.written == {"trace": 6}
    assert snapshot.dropped == {"shutdown": {"trace": 4}, "write_error": {"error": 2}}
    assert snapshot.events_received == snapshot.events_written + snapshot.events_dropped == 12
    assert snapshot.dropped_by_reason() == {"queue_full": 0, "shutdown": 4, "write_error": 2}
    assert stats.rows_written() == 6


def test_only_a_full_queue_stamps_the_time_of_the_last_queue_full_drop() -> None:
    stats = Stats()
    stats.record_dropped("trace", "shutdown")
    assert stats.snapshot().last_queue_full_ms is None
    stats.record_dropped("trace", "queue_full", 3)
    assert stats.snapshot().last_queue_full_ms is not None


def test_unsynced_grows_with_writes_and_never_goes_below_zero() -> None:
    stats = Stats()
    stats.set_unsynced(5)  # what the database held at the start
    stats.record_written("trace", 3)
    assert stats.snapshot().unsynced == 8
    stats.add_unsynced(-6)  # marked pushed
    assert stats.snapshot().unsynced == 2
    stats.add_unsynced(-10)  # more deleted than counted (rows written by an earlier daemon)
    assert stats.snapshot().unsynced == 0


def test_the_writers_health_counts_consecutive_failures_and_a_success_clears_them() -> None:
    stats = Stats()
    stats.set_writer_alive(True)
    stats.record_write_failure("disk I/O error", db_error=True)
    stats.record_write_failure("database is locked", db_error=False)
    snapshot = stats.snapshot()
    assert snapshot.writer_alive
    assert (snapshot.writer_failures, snapshot.writer_last_error, snapshot.writer_db_error) == (
        2,
        "database is locked",
        False,
    )
    stats.record_write_ok()
    snapshot = stats.snapshot()
    assert (snapshot.writer_failures, snapshot.writer_last_error, snapshot.writer_db_error) == (0, None, False)
    stats.set_writer_alive(False)
    assert not stats.snapshot().writer_alive


def test_feeds_add_their_events_and_keep_the_time_of_the_last_delivery() -> None:
    stats = Stats()
    stats.record_feeds({"plugin": 3, "otlp": 1}, at_ms=1_000)
    stats.record_feeds({"plugin": 2}, at_ms=2_000)
    assert stats.snapshot().feeds == {"plugin": (5, 2_000), "otlp": (1, 1_000)}


def test_a_snapshot_is_a_copy_that_later_counts_leave_alone() -> None:
    stats = Stats()
    stats.record_written("trace", 1)
    stats.count("otlp.logs.ignored", 2)
    stats.record_dropped("trace", "queue_full")
    stats.record_feeds({"api": 1}, at_ms=1)
    before = stats.snapshot()
    stats.record_written("trace", 1)
    stats.count("otlp.logs.ignored")
    stats.record_dropped("trace", "queue_full")
    stats.record_feeds({"api": 1}, at_ms=2)
    assert before.written == {"trace": 1}
    assert before.counters == {"otlp.logs.ignored": 2}
    assert before.dropped == {"queue_full": {"trace": 1}}
    assert before.feeds == {"api": (1, 1)}
    assert stats.snapshot().counters == {"otlp.logs.ignored": 3}


def test_counts_from_many_threads_at_once_are_all_kept() -> None:
    stats = Stats()
    start = threading.Barrier(8)

    def count() -> None:
        start.wait()
        for _ in range(500):
            stats.record_written("trace", 1)
            stats.record_dropped("error", "queue_full")
            stats.count("http.closed")
            stats.record_feeds({"api": 1}, at_ms=1)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = stats.snapshot()
    assert snapshot.written == {"trace": 4000}
    assert snapshot.dropped == {"queue_full": {"error": 4000}}
    assert snapshot.counters == {"http.closed": 4000}
    assert snapshot.feeds == {"api": (4000, 1)}
    assert snapshot.unsynced == stats.rows_written() == 4000
