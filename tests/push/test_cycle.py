"""One push cycle against a real scripted receiver, over a real SQLite file and the real single writer."""

from __future__ import annotations

import threading
import time
import urllib.parse
from typing import Any

import pytest

from openclaw_trace.push.client import PushClient
from openclaw_trace.push.cycle import MAX_ERROR_CHARS, CycleReport, PushCycle
from openclaw_trace.push.native import NativeEncoder
from tests.push.conftest import ALL_KINDS, Store, synced_count
from tests.push.receiver import Receiver, Recorded, Step, closed_port_url


def make(store: Store, url: str, client: PushClient | None = None, **overrides: Any) -> PushCycle:
    client = client or PushClient(
        url,
        token="s3cret-token",
        headers={"X-Fleet": "north"},
        request_timeout_s=overrides.pop("request_timeout_s", 5.0),
    )
    settings: dict[str, Any] = {
        "stats": store.stats,
        "max_payload_bytes": 5_000_000,
        "max_attempts": 4,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "defer_cycles": 12,
        "rand": lambda: 0.5,
        **overrides,
    }
    return PushCycle(store.db_path, store.writer, client, NativeEncoder("test-host", "agent-1"), **settings)


def events_of(records: list[Recorded]) -> list[dict[str, Any]]:
    return [event for r in records if r.status and r.status < 300 for event in r.json()["events"]]


def sent_events(records: list[Recorded]) -> list[dict[str, Any]]:
    return [event for r in records for event in r.json()["events"]]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, "ok"),
        ({"events": 5}, "ok"),
        ({"failed": True}, "failed"),
        ({"failed": True, "events": 3}, "partial"),
        ({"rejected": 2}, "rejected"),
        ({"rejected": 2, "events": 3}, "partial"),
        ({"interrupted": True}, "interrupted"),
        ({"interrupted": True, "failed": True}, "failed"),
    ],
)
def test_final_status(fields: dict[str, Any], status: str) -> None:
    assert CycleReport(started_at_ms=0, **fields).final_status() == status


def test_the_first_error_is_kept_and_cut() -> None:
    report = CycleReport(started_at_ms=0)
    report.note_error("x" * (MAX_ERROR_CHARS + 100))
    report.note_error("a later one")
    assert report.error == "x" * MAX_ERROR_CHARS


def test_every_unsynced_row_of_every_table_arrives_once_with_its_trace_id(store: Store) -> None:
    for kind in ALL_KINDS:
        store.add(kind, 3)
    with Receiver() as receiver:
        report = make(store, receiver.url + "/ingest").run(15)
        records = receiver.records
    assert report.status == "ok"
    assert (report.events, report.batches) == (15, 5)  # one request per table
    assert report.bytes == sum(len(r.raw) for r in records)
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


def test_nothing_unacknowledged_is_ever_marked(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.add("trace", 4)
    with Receiver(default=500) as receiver, caplog.at_level("DEBUG"):
        report = make(store, receiver.url, max_attempts=3).run(15)
        assert len(receiver.records) == 3
    assert "s3cret-token" not in caplog.text  # the token is sent, never logged
    assert (report.status, report.events, report.http_status) == ("failed", 0, 500)
    assert report.error is not None and report.error.startswith("HTTP 500")
    assert store.unsynced() == 4
    assert store.rows("SELECT count(*) AS n FROM llm_traces WHERE pushed_at IS NOT NULL")[0]["n"] == 0


def test_500s_then_200_are_retried_and_rows_stay_unsynced_until_the_200(store: Store) -> None:
    store.add("trace", 5)
    with Receiver([500, 500, 200], on_request=lambda: synced_count(store.db_path)) as receiver:
        report = make(store, receiver.url).run(15)
        records = receiver.records
    assert report.status == "ok"
    assert [r.status for r in records] == [500, 500, 200]
    assert [r.observed for r in records] == [0, 0, 0]  # nothing marked while the receiver had not said yes
    assert len({tuple(e["trace_id"] for e in r.json()["events"]) for r in records}) == 1  # the same batch
    assert store.unsynced() == 0


def test_429_with_retry_after_waits_at_least_that_long(store: Store) -> None:
    store.add("error", 2)
    with Receiver([Step(429, headers=(("Retry-After", "1"),)), 200]) as receiver:
        report = make(store, receiver.url).run(15)
        first, second = receiver.records
    assert report.status == "ok"
    assert second.at - first.at >= 1.0
    assert store.unsynced() == 0


def test_a_retry_after_longer_than_the_cycle_sets_not_before(store: Store) -> None:
    store.add("error", 1)
    with Receiver([Step(503, headers=(("Retry-After", "3600"),))]) as receiver:
        cycle = make(store, receiver.url)
        assert cycle.run(2.0).status == "failed"
        assert len(receiver.records) == 1  # not retried: the wait is past the deadline
    assert cycle.not_before > time.monotonic() + 3000
    assert store.unsynced() == 1


def test_400_is_permanent_not_hammered_and_the_rows_are_skipped_for_a_while(store: Store) -> None:
    store.add("trace", 3)
    with Receiver([400]) as receiver:
        cycle = make(store, receiver.url, defer_cycles=2)
        report = cycle.run(15)
        assert report.status == "rejected"
        assert report.rejected == 3
        assert len([r for r in receiver.records if r.json()["events"]]) == 1  # one try, no retries
        assert store.unsynced() == 3  # never marked pushed
        assert store.stats.snapshot().counters["push.rows_rejected"] == 3
        assert cycle.rows_deferred == 3
        assert cycle.totals["rows_rejected"] == 3
        cycle.run(15)  # skipped this cycle: only the ledger goes
        assert len(sent_events(receiver.records)) == 3
        cycle.run(15)  # offered again after defer_cycles
        assert len(sent_events(receiver.records)) == 6
    assert store.unsynced() == 0
    assert cycle.rows_deferred == 0


def test_413_halves_the_batch_and_a_single_row_413_is_permanent(store: Store) -> None:
    store.add("trace", 4)
    with Receiver([413, 200, 413, 413, 200]) as receiver:
        report = make(store, receiver.url).run(15)
        counts = [len(r.json()["events"]) for r in receiver.records]
    assert counts == [4, 2, 2, 1, 1]
    assert report.status == "partial"
    assert (report.events, report.rejected) == (3, 1)
    assert store.unsynced() == 1


def test_receiver_down_then_up_rows_go_out_on_a_later_cycle(store: Store) -> None:
    store.add("system_metric", 3)
    url = closed_port_url()
    cycle = make(store, url, max_attempts=2)
    report = cycle.run(15)
    assert report.status == "failed"
    assert report.error == "connection refused"
    assert store.unsynced() == 3
    port = urllib.parse.urlsplit(url).port or 0
    with Receiver(port=port) as receiver:
        assert cycle.run(15).status == "ok"
        assert len(events_of(receiver.records)) == 3
    assert store.unsynced() == 0


def test_slow_receiver_times_out_rows_stay_unsynced_and_duplicates_only_by_trace_id(store: Store) -> None:
    store.add("trace", 3)
    with Receiver([Step(delay_s=3.0)]) as receiver:
        cycle = make(store, receiver.url, request_timeout_s=0.3, max_attempts=1)
        assert cycle.run(15).status == "failed"
        assert store.unsynced() == 3
        assert cycle.run(15).status == "ok"
        sent = sent_events(receiver.records)
    ids = [e["trace_id"] for e in sent]
    assert len(ids) == 6 and len(set(ids)) == 3  # the timed-out batch again, the same trace_ids
    assert store.unsynced() == 0


def test_connection_cut_after_the_body_was_read_leaves_rows_for_the_next_cycle(store: Store) -> None:
    store.add("gateway_event", 2)
    with Receiver([Step(hang_up=True)], on_request=lambda: synced_count(store.db_path)) as receiver:
        cycle = make(store, receiver.url, max_attempts=1)
        assert cycle.run(15).status == "failed"
        assert store.unsynced() == 2
        assert cycle.run(15).status == "ok"
        assert {e["trace_id"] for e in sent_events(receiver.records)} == {
            r["trace_id"] for r in store.rows("SELECT trace_id FROM gateway_events")
        }
    assert store.unsynced() == 0


def test_over_size_batches_split_and_each_part_is_acknowledged_on_its_own(store: Store) -> None:
    store.add("trace", 40, text="x" * 400)
    with Receiver([200, 400, 200]) as receiver:
        report = make(store, receiver.url, max_payload_bytes=4_000).run(15)
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
        make(store, receiver.url, max_payload_bytes=4_000).run(15)
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
        cycle = make(store, receiver.url, max_attempts=1)
        cycle.run(15)
        first = receiver.records[0].json()["ledger"]
        assert first["received"] == {"trace": 3}
        assert first["stored"] == {"trace": 3}
        assert first["dropped"] == {"queue_full": {"trace": 2}}
        store.add("error", 2)
        assert cycle.run(15).status == "failed"  # this ledger is not acknowledged …
        store.add("error", 1)
        cycle.run(15)  # … so the next one carries it again, grown
        third = receiver.records[-1].json()["ledger"]
    assert third["received"] == {"error": 3}
    assert third["stored"] == {"error": 3}
    assert third["dropped"] == {}
    assert third["since_ms"] == first["until_ms"]


def test_a_quiet_cycle_sends_the_ledger_alone(store: Store) -> None:
    with Receiver() as receiver:
        report = make(store, receiver.url).run(15)
        [record] = receiver.records
    assert (report.status, report.events, report.batches) == ("ok", 0, 1)
    body = record.json()
    assert body["events"] == []
    assert body["ledger"]["received_total"] == 0


def test_gzip_refused_with_415_falls_back_to_identity_and_remembers(store: Store) -> None:
    store.add("trace", 1)
    with Receiver([Step(refuse_gzip=True)]) as receiver:
        client = PushClient(receiver.url)
        cycle = make(store, receiver.url, client=client)
        assert cycle.run(15).status == "ok"
        store.add("trace", 1)
        cycle.run(15)
        encodings = [r.headers.get("content-encoding") for r in receiver.records]
    assert encodings == ["gzip", None, None]
    assert client.gzip_enabled is False
    assert store.unsynced() == 0


def test_a_reused_id_is_not_marked_pushed(store: Store) -> None:
    store.add("trace", 3)

    def delete_and_refill() -> None:
        # While the batch is on the wire: its rows are deleted and new ones take their ids.
        store.writer.call(lambda conn: conn.execute("DELETE FROM llm_traces"))
        store.add("trace", 3)

    with Receiver(on_request=delete_and_refill) as receiver:
        cycle = make(store, receiver.url)
        cycle.run(5)
        receiver.wait_for(1)
    fresh = store.rows("SELECT id, synced, pushed_at FROM llm_traces ORDER BY id")
    assert [r["id"] for r in fresh] == [1, 2, 3]  # the same ids as the rows that were sent
    assert all(r["synced"] == 0 and r["pushed_at"] is None for r in fresh)
    assert cycle.totals["rows_pushed"] == 0


def test_acknowledged_rows_the_writer_cannot_mark_stay_unsynced_and_end_the_cycle(store: Store) -> None:
    store.add("trace", 2)
    store.add("error", 2)
    store.writer.stop(10)
    with Receiver() as receiver:
        report = make(store, receiver.url).run(15)
        assert len(receiver.records) == 1  # the cycle ended at the first batch it could not mark
    assert (report.status, report.events) == ("failed", 0)
    assert report.error == "marking pushed rows failed: WriterStopped"
    assert store.stats.snapshot().counters["push.mark_failures"] == 1
    assert store.unsynced() == 4


def test_a_set_stop_ends_a_regular_cycle_before_its_next_request_and_not_a_final_one(store: Store) -> None:
    store.add("trace", 2)
    stop = threading.Event()
    stop.set()
    with Receiver() as receiver:
        cycle = make(store, receiver.url, stop=stop)
        report = cycle.run(15)
        assert (report.status, report.error) == ("interrupted", "stopped; the final push takes over")
        assert receiver.records == []
        assert cycle.run(15, final=True).status == "ok"
        assert len(events_of(receiver.records)) == 2
    assert store.unsynced() == 0
