"""PushScheduler: its thread, its timing (breaker, Retry-After, stop and the final push), what it records and shows."""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from openclaw_trace.config_types import endpoint_label
from openclaw_trace.push.client import PushClient
from openclaw_trace.push.scheduler import PushScheduler, make_encoder
from tests.push.conftest import ALL_KINDS, Store
from tests.push.receiver import Receiver, Recorded, Step, closed_port_url


def make(store: Store, url: str, fmt: str = "json", db_path: str = "", **overrides: Any) -> PushScheduler:
    client = PushClient(
        url,
        token=overrides.pop("token", "s3cret-token"),
        headers=overrides.pop("headers", {"X-Fleet": "north"}),
        request_timeout_s=overrides.pop("request_timeout_s", 5.0),
    )
    settings: dict[str, Any] = {
        "stats": store.stats,
        "endpoint": url,
        "interval_s": 60.0,
        "max_attempts": 4,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "cycle_budget_s": 15.0,
        "rand": lambda: 0.5,
        **overrides,
    }
    encoder = make_encoder(fmt, "test-host", "agent-1")
    return PushScheduler(db_path or store.db_path, store.writer, client, encoder, **settings)


def events_of(records: list[Recorded]) -> list[dict[str, Any]]:
    return [event for r in records if r.status and r.status < 300 for event in r.json()["events"]]


HEALTH_KEYS = [
    "endpoint",
    "format",
    "alive",
    "circuit",
    "degraded",
    "consecutive_failed_cycles",
    "gzip",
    "rows_deferred",
    "last_status",
    "last_error",
    "cycles",
    "rows_pushed",
    "rows_rejected",
    "bytes_sent",
]


def test_a_cycle_pushes_records_its_push_log_row_and_shows_in_health(store: Store) -> None:
    for kind in ALL_KINDS:
        store.add(kind, 3)
    with Receiver() as receiver:
        scheduler = make(store, receiver.url + "/ingest")
        assert scheduler.last_push() is None
        report = scheduler.run_cycle(15)
        assert len(events_of(receiver.records)) == 15
    assert report.status == "ok"
    assert store.unsynced() == 0
    [logged] = store.rows("SELECT * FROM push_log")
    assert logged["status"] == "ok"
    assert logged["events"] == 15
    assert logged["endpoint"] == endpoint_label(receiver.url + "/ingest")  # not its path: it may hold a secret
    assert logged["format"] == "json"
    assert logged["bytes"] == report.bytes > 0
    assert scheduler.last_push() == (report.started_at_ms, "ok")
    health = scheduler.health()
    assert list(health) == HEALTH_KEYS
    assert health["endpoint"] == logged["endpoint"]
    assert (health["format"], health["alive"], health["circuit"], health["degraded"]) == (
        "json",
        False,
        "closed",
        False,
    )
    assert (health["cycles"], health["rows_pushed"], health["bytes_sent"]) == (1, 15, report.bytes)
    assert (health["last_status"], health["last_error"]) == ("ok", None)


def test_a_retry_after_longer_than_the_cycle_delays_the_next_cycle(store: Store) -> None:
    store.add("error", 1)
    with Receiver([Step(503, headers=(("Retry-After", "3600"),))]) as receiver:
        scheduler = make(store, receiver.url, cycle_budget_s=2.0)
        assert scheduler.run_cycle(2.0, final=False).status == "failed"
        waiting = scheduler.run_cycle(2.0, final=False)
        assert (waiting.status, waiting.error) == ("waiting", "receiver asked to wait (Retry-After)")
        assert len(receiver.records) == 1
    assert store.unsynced() == 1
    assert [r["status"] for r in store.rows("SELECT status FROM push_log ORDER BY id")] == ["failed", "waiting"]
    assert scheduler.last_push() == (waiting.started_at_ms, "waiting")


def test_a_cycle_that_raises_shows_as_an_error_and_the_thread_carries_on(store: Store, tmp_path: Path) -> None:
    # A database that is not there: reading it raises, which no cycle expects.
    scheduler = make(store, closed_port_url(), db_path=str(tmp_path / "missing.db"), interval_s=0.01)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while store.stats.snapshot().counters.get("push.cycle_errors", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        last = scheduler.last_push()
        assert last is not None and last.status == "error"
        assert store.stats.snapshot().counters["push.cycle_errors"] >= 2  # the next cycle ran after the first raised
        assert scheduler.health()["alive"] is True
    finally:
        assert scheduler.stop(5.0) is True
    assert store.rows("SELECT id FROM push_log") == []  # nothing reliable to record


def test_repeated_failed_cycles_open_the_circuit(store: Store) -> None:
    store.add("trace", 1)
    scheduler = make(store, closed_port_url(), max_attempts=1, breaker_threshold=2, breaker_cooldown_s=3600)
    statuses = [scheduler.run_cycle(5, final=False).status for _ in range(3)]
    assert statuses == ["failed", "failed", "circuit_open"]
    health = scheduler.health()
    assert health["circuit"] == "open"
    assert health["degraded"] is True  # /health turns "degraded" on this
    assert health["consecutive_failed_cycles"] == 2
    assert [r["status"] for r in store.rows("SELECT status FROM push_log ORDER BY id")] == statuses


def test_the_circuit_half_opens_and_closes_on_success(store: Store) -> None:
    store.add("trace", 1)
    url = closed_port_url()
    scheduler = make(store, url, max_attempts=1, breaker_threshold=1, breaker_cooldown_s=0.0)
    assert scheduler.run_cycle(5, final=False).status == "failed"
    assert scheduler.health()["circuit"] == "half_open"
    with Receiver(port=urllib.parse.urlsplit(url).port or 0):
        assert scheduler.run_cycle(5, final=False).status == "ok"
    assert scheduler.health()["circuit"] == "closed"
    assert scheduler.health()["degraded"] is False


def test_stop_cuts_a_backoff_wait_short_and_attempts_a_final_push(store: Store) -> None:
    store.add("trace", 2)
    with Receiver(default=503) as receiver:
        scheduler = make(store, receiver.url, interval_s=0.05, backoff_base_s=600, backoff_cap_s=600, rand=lambda: 0.99)
        scheduler.start()
        receiver.wait_for(1)  # the first attempt failed; the thread now waits ~10 minutes to retry
        before = len(receiver.records)
        assert scheduler.stop(5.0) is True
        assert len(receiver.records) == before + 1  # the final push, one try (its backoff passes the deadline)
    assert not [t for t in threading.enumerate() if t.name == "oct-push"]
    assert store.unsynced() == 2
    assert scheduler.stop(1.0) is True  # idempotent


def test_stop_without_start_is_a_no_op(store: Store) -> None:
    scheduler = make(store, closed_port_url())
    assert scheduler.stop(1.0) is True
    assert scheduler.stop(1.0) is True


def test_start_stop_many_times_leaks_no_thread_or_file_descriptor(store: Store) -> None:
    store.add("trace", 1)
    with Receiver() as receiver:
        make(store, receiver.url).run_cycle(5)  # warm up: first connections, imports
        fds_before = len(os.listdir("/proc/self/fd"))
        for _ in range(30):
            scheduler = make(store, receiver.url)
            scheduler.start()
            assert scheduler.stop(5.0) is True
        # The receiver's side of the last connection closes on its own thread, a moment
        # after ours: wait for it. A leak (one per cycle) would stay ~30 over.
        deadline = time.monotonic() + 5
        while (fds_after := len(os.listdir("/proc/self/fd"))) > fds_before and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "oct-push"]
    assert fds_after <= fds_before


def test_a_reused_id_is_not_marked_pushed(store: Store) -> None:
    store.add("trace", 3)

    def delete_and_refill() -> None:
        # While the batch is on the wire: its rows are deleted and new ones take their ids.
        store.writer.call(lambda conn: conn.execute("DELETE FROM llm_traces"))
        store.add("trace", 3)

    with Receiver(on_request=delete_and_refill) as receiver:
        scheduler = make(store, receiver.url)
        scheduler.run_cycle(5, final=False)
        receiver.wait_for(1)
    fresh = store.rows("SELECT id, synced, pushed_at FROM llm_traces ORDER BY id")
    assert [r["id"] for r in fresh] == [1, 2, 3]  # the same ids as the rows that were sent
    assert all(r["synced"] == 0 and r["pushed_at"] is None for r in fresh)
