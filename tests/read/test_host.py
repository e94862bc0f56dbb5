"""The host's samples, the push log and the ingest books, as the read layer gives them."""

from __future__ import annotations

import json
import sqlite3

import pytest

from openclaw_trace.read import host
from openclaw_trace.read.problems import BadQuery
from openclaw_trace.storage import writes
from tests.read.conftest import NOW_MS, Store

MINUTE_MS = 60_000


def test_the_newest_samples_since_a_time_oldest_first(store: Store, reader: sqlite3.Connection) -> None:
    for n in range(5):
        store.add("system_metric", NOW_MS + n * MINUTE_MS, cpu_percent=float(n), metadata={"gateway": {"rss": n}})
    samples = host.metrics(reader, since_ms=NOW_MS + MINUTE_MS, limit=3)
    assert [s["cpu_percent"] for s in samples] == [2.0, 3.0, 4.0]  # the newest three, oldest first
    assert samples[0]["metadata"] == {"gateway": {"rss": 2}}
    assert samples[0]["time"] == "2026-11-30T00:55:20Z"
    assert [s["cpu_percent"] for s in host.metrics(reader, since_ms=NOW_MS + 10 * MINUTE_MS)] == []


def test_a_sample_without_metadata_or_with_text_that_is_not_json_is_still_shown(
    store: Store, reader: sqlite3.Connection
) -> None:
    store.add("system_metric", NOW_MS, cpu_percent=1.0)
    store.add("system_metric", NOW_MS + 1, cpu_percent=2.0, metadata="not json")
    assert [s["metadata"] for s in host.metrics(reader)] == [{}, "not json"]


def test_push_cycles_newest_first(store: Store, reader: sqlite3.Connection) -> None:
    for started, status in ((NOW_MS, "ok"), (NOW_MS + 2, "failed"), (NOW_MS + 1, "ok"), (NOW_MS + 2, "ok")):
        writes.record_push_cycle(
            store.conn, (started, 10, status, "https://c.example:443", "otlp", 5, 1, 99, 200, None)
        )
    cycles = host.push_cycles(reader, limit=3)
    assert [(c["started_at"], c["status"]) for c in cycles] == [(NOW_MS + 2, "ok"), (NOW_MS + 2, "failed"),
                                                               (NOW_MS + 1, "ok")]  # fmt: skip
    assert cycles[0]["endpoint"] == "https://c.example:443"
    assert host.push_cycles(reader) == host.push_cycles(reader, 20)


def book(store: Store, at: int, started_at: int, received: int, written: int, dropped: int) -> None:
    by_reason = json.dumps({"queue_full": dropped, "shutdown": 0, "write_error": 0})
    writes.record_books(store.conn, (at, started_at, received, written, dropped, by_reason, 0))


def test_the_books_say_what_moved_each_minute_and_start_again_with_the_daemon(
    store: Store, reader: sqlite3.Connection
) -> None:
    first_run, second_run = NOW_MS - 10 * MINUTE_MS, NOW_MS + 2 * MINUTE_MS
    book(store, NOW_MS, first_run, 100, 90, 0)
    book(store, NOW_MS + MINUTE_MS, first_run, 250, 230, 5)
    book(store, NOW_MS + 3 * MINUTE_MS, second_run, 40, 40, 0)  # the counters restarted with the daemon
    book(store, NOW_MS + 4 * MINUTE_MS, second_run, 70, 65, 1)
    found = host.books(reader, NOW_MS, NOW_MS + 5 * MINUTE_MS)
    assert [(b["received_delta"], b["written_delta"], b["dropped_delta"]) for b in found] == [
        (100, 90, 0),
        (150, 140, 5),
        (40, 40, 0),
        (30, 25, 1),
    ]
    assert found[1]["dropped_by_reason"] == {"queue_full": 5, "shutdown": 0, "write_error": 0}
    later = host.books(reader, NOW_MS + MINUTE_MS, NOW_MS + 4 * MINUTE_MS)  # the window's end is not in it
    assert [b["at"] for b in later] == [NOW_MS + MINUTE_MS, NOW_MS + 3 * MINUTE_MS]
    assert later[0]["received_delta"] == 250  # the row before is outside the window: all it says


def test_a_limit_out_of_range_is_refused(reader: sqlite3.Connection) -> None:
    for read in (lambda: host.metrics(reader, limit=0), lambda: host.push_cycles(reader, 1001),
                 lambda: host.books(reader, 0, 1, limit=-1)):  # fmt: skip
        with pytest.raises(BadQuery, match="limit"):
            read()
