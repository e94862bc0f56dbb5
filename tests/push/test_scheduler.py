"""PushScheduler against a real scripted receiver, over a real SQLite file and the real single writer."""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from typing import Any

import pytest

from openclaw_trace.config_types import endpoint_label
from openclaw_trace.push.client import PushClient
from openclaw_trace.push.scheduler import PushScheduler, make_encoder
from tests.push.conftest import ALL_KINDS, Store, synced_count
from tests.push.receiver import Receiver, Recorded, Step, closed_port_url


def make(store: Store, url: str, fmt: str = "json", **overrides: Any) -> PushScheduler:
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
    return PushScheduler(store.db_path, store.writer, client, make_encoder(fmt, "test-host", "agent-1"), **settings)


def events_of(records: list[Recorded]) -> list[dict[str, Any]]:
    return [event for r in records if r.status and r.status < 300 for event in r.json()["events"]]


def sent_events(records: list[Recorded]) -> list[dict[str, Any]]:
    return [event for r in records for event in r.json()["events"]]


def test_every_unsynced_row_of_every_table_arrives_once_with_its_trace_id(store: Store) -> None:
    for kind in ALL_KINDS:
        store.add(kind, 3)
    with Receiver() as receiver:
        report = make(store, receiver.url + "/ingest").run_cycle(15)
        records = receiver.records
    assert report.status == "ok"
    events = events_of(records)
    stored = store.all_rows()
    assert len(stored) == 15
    assert sorted(e["trace_id"] for e in events) == sorted(r["trace_id"] for r in stored)
    assert {e["kind"] for e in events} == set(ALL_KINDS)
    assert all(r["synced"] == 1 and r["pushed_at"] is not None for r in store.all_rows())
    assert store.stats.snapshot().unsynced == 0
    first = records[0]
    assert first.path == "/ingest"
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["authorization"] == "Bearer s3cret-token"
    assert first.headers["x-fleet"] == "north"
    envelope = first.json()
    assert envelope["source"]["host"] == "test-host"
    assert envelope["source"]["agent_id"] == "agent-1"
    assert envelope["source"]["version"]
    trace = next(e for e in events if e["kind"] == "trace")
    assert trace["fields"]["metadata"] == {"i": 0, "tag": "t"}  # parsed back to an object
    gateway = next(e for e in events if e["kind"] == "gateway_event")
    assert gateway["fields"]["kind"] == "channel_disconnect"  # the column does not clash with the event kind
    [logged] = store.rows("SELECT * FROM push_log")
    assert logged["status"] == "ok"
    assert logged["events"] == 15
    assert logged["endpoint"] == endpoint_label(receiver.url + "/ingest")  # not its path: it may hold a secret
    assert logged["format"] == "json"
    assert logged["bytes"] > 0


def test_nothing_unacknowledged_is_ever_marked(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.add("trace", 4)
    with Receiver(default=500) as receiver, caplog.at_level("DEBUG"):
        report = make(store, receiver.url, max_attempts=3).run_cycle(15)
        assert len(receiver.records) == 3
    assert "s3cret-token" not in caplog.text  # the token is sent, never logged
    assert report.status == "failed"
    assert store.unsynced() == 4
    assert store.rows("SELECT count(*) AS n FROM llm_traces WHERE pushed_at IS NOT NULL")[0]["n"] == 0
    [logged] = store.rows("SELECT * FROM push_log")
    assert (logged["status"], logged["events"], logged["http_status"]) == ("failed", 0, 500)
    assert logged["error"].startswith("HTTP 500")


def test_500s_then_200_are_retried_and_rows_stay_unsynced_until_the_200(store: Store) -> None:
    store.add("trace", 5)
    with Receiver([500, 500, 200], on_request=lambda: synced_count(store.db_path)) as receiver:
        report = make(store, receiver.url).run_cycle(15)
        records = receiver.records
    assert report.status == "ok"
    assert [r.status for r in records] == [500, 500, 200]
    assert [r.observed for r in records] == [0, 0, 0]  # nothing marked while the receiver had not said yes
    assert len({tuple(e["trace_id"] for e in r.json()["events"]) for r in records}) == 1  # the same batch
    assert store.unsynced() == 0


def test_429_with_retry_after_waits_at_least_that_long(store: Store) -> None:
    store.add("error", 2)
    with Receiver([Step(429, headers=(("Retry-After", "1"),)), 200]) as receiver:
        report = make(store, receiver.url).run_cycle(15)
        first, second = receiver.records
    assert report.status == "ok"
    assert second.at - first.at >= 1.0
    assert store.unsynced() == 0


def test_a_retry_after_longer_than_the_cycle_delays_the_next_cycle(store: Store) -> None:
    store.add("error", 1)
    with Receiver([Step(503, headers=(("Retry-After", "3600"),))]) as receiver:
        scheduler = make(store, receiver.url, cycle_budget_s=2.0)
        assert scheduler.run_cycle(2.0, final=False).status == "failed"
        assert scheduler.run_cycle(2.0, final=False).status == "waiting"
        assert len(receiver.records) == 1
    assert store.unsynced() == 1


def test_400_is_permanent_not_hammered_and_the_rows_are_skipped_for_a_while(store: Store) -> None:
    store.add("trace", 3)
    with Receiver([400]) as receiver:
        scheduler = make(store, receiver.url, defer_cycles=2)
        report = scheduler.run_cycle(15)
        assert report.status == "rejected"
        assert report.rejected == 3
        assert len([r for r in receiver.records if r.json()["events"]]) == 1  # one try, no retries
        assert store.unsynced() == 3  # never marked pushed
        assert store.stats.snapshot().counters["push.rows_rejected"] == 3
        assert scheduler.health()["rows_deferred"] == 3
        scheduler.run_cycle(15)  # skipped this cycle: only the ledger goes
        assert len(sent_events(receiver.records)) == 3
        scheduler.run_cycle(15)  # offered again after defer_cycles
        assert len(sent_events(receiver.records)) == 6
    assert store.unsynced() == 0


def test_413_halves_the_batch_and_a_single_row_413_is_permanent(store: Store) -> None:
    store.add("trace", 4)
    with Receiver([413, 200, 413, 413, 200]) as receiver:
        report = make(store, receiver.url).run_cycle(15)
        counts = [len(r.json()["events"]) for r in receiver.records]
    assert counts == [4, 2, 2, 1, 1]
    assert report.status == "partial"
    assert (report.events, report.rejected) == (3, 1)
    assert store.unsynced() == 1


def test_receiver_down_then_up_rows_go_out_on_a_later_cycle(store: Store) -> None:
    store.add("system_metric", 3)
    url = closed_port_url()
    scheduler = make(store, url, max_attempts=2)
    report = scheduler.run_cycle(15)
    assert report.status == "failed"
    assert report.error == "connection refused"
    assert store.unsynced() == 3
    port = urllib.parse.urlsplit(url).port or 0
    with Receiver(port=port) as receiver:
        assert scheduler.run_cycle(15).status == "ok"
        assert len(events_of(receiver.records)) == 3
    assert store.unsynced() == 0


def test_slow_receiver_times_out_rows_stay_unsynced_and_duplicates_only_by_trace_id(store: Store) -> None:
    store.add("trace", 3)
    with Receiver([Step(delay_s=3.0)]) as receiver:
        scheduler = make(store, receiver.url, request_timeout_s=0.3, max_attempts=1)
        assert scheduler.run_cycle(15).status == "failed"
        assert store.unsynced() == 3
        assert scheduler.run_cycle(15).status == "ok"
        sent = sent_events(receiver.records)
    ids = [e["trace_id"] for e in sent]
    assert len(ids) == 6 and len(set(ids)) == 3  # the timed-out batch again, the same trace_ids
    assert store.unsynced() == 0


def test_connection_cut_after_the_body_was_read_leaves_rows_for_the_next_cycle(store: Store) -> None:
    store.add("gateway_event", 2)
    with Receiver([Step(hang_up=True)], on_request=lambda: synced_count(store.db_path)) as receiver:
        scheduler = make(store, receiver.url, max_attempts=1)
        assert scheduler.run_cycle(15).status == "failed"
        assert store.unsynced() == 2
        assert scheduler.run_cycle(15).status == "ok"
        assert {e["trace_id"] for e in sent_events(receiver.records)} == {
            r["trace_id"] for r in store.rows("SELECT trace_id FROM gateway_events")
        }
    assert store.unsynced() == 0


def test_over_size_batches_split_and_each_part_is_acknowledged_on_its_own(store: Store) -> None:
    store.add("trace", 40, text="x" * 400)
    with Receiver([200, 400, 200]) as receiver:
        report = make(store, receiver.url, max_payload_bytes=4_000).run_cycle(15)
        data = [r for r in receiver.records if r.json()["events"]]
    assert len(data) >= 4
    assert all(len(r.body) <= 4_000 for r in data)
    rejected = {e["trace_id"] for e in data[1].json()["events"]}
    synced = {r["trace_id"] for r in store.rows("SELECT trace_id FROM llm_traces WHERE synced = 1")}
    unsynced = {r["trace_id"] for r in store.rows("SELECT trace_id FROM llm_traces WHERE synced = 0")}
    assert unsynced == rejected
    assert len(synced) == 40 - len(rejected)
    assert report.status == "partial"


def test_a_single_oversize_row_is_truncated_to_fit(store: Store) -> None:
    store.add("trace", 1, text="é" * 20_000)
    with Receiver() as receiver:
        make(store, receiver.url, max_payload_bytes=4_000).run_cycle(15)
        [record] = receiver.records
    assert len(record.body) <= 4_000
    [event] = record.json()["events"]
    assert event["truncated"] == ["input_text"]
    assert event["fields"]["input_text"].startswith("éé")
    assert store.unsynced() == 0


def test_the_loss_ledger_carries_counts_since_the_last_acknowledged_push(store: Store) -> None:
    store.add("trace", 3)
    store.stats.record_dropped("trace", "queue_full", 2)
    with Receiver([200, 500]) as receiver:
        scheduler = make(store, receiver.url, max_attempts=1)
        scheduler.run_cycle(15)
        first = receiver.records[0].json()["ledger"]
        assert first["received"] == {"trace": 3}
        assert first["stored"] == {"trace": 3}
        assert first["dropped"] == {"queue_full": {"trace": 2}}
        store.add("error", 2)
        assert scheduler.run_cycle(15).status == "failed"  # this ledger is not acknowledged …
        store.add("error", 1)
        scheduler.run_cycle(15)  # … so the next one carries it again, grown
        third = receiver.records[-1].json()["ledger"]
    assert third["received"] == {"error": 3}
    assert third["stored"] == {"error": 3}
    assert third["dropped"] == {}
    assert third["since_ms"] == first["until_ms"]


def test_a_quiet_cycle_sends_the_ledger_alone(store: Store) -> None:
    with Receiver() as receiver:
        report = make(store, receiver.url).run_cycle(15)
        [record] = receiver.records
    assert report.status == "ok"
    body = record.json()
    assert body["events"] == []
    assert body["ledger"]["received_total"] == 0


def test_gzip_refused_with_415_falls_back_to_identity_and_remembers(store: Store) -> None:
    store.add("trace", 1)
    with Receiver([Step(refuse_gzip=True)]) as receiver:
        scheduler = make(store, receiver.url)
        assert scheduler.run_cycle(15).status == "ok"
        store.add("trace", 1)
        scheduler.run_cycle(15)
        encodings = [r.headers.get("content-encoding") for r in receiver.records]
    assert encodings == ["gzip", None, None]
    assert scheduler.health()["gzip"] is False
    assert store.unsynced() == 0


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
