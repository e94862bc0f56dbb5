"""Each cycle's push_log row and log line, and the last push /health shows; the endpoint as it may be stored."""

from __future__ import annotations

import logging

import pytest

from openclaw_trace.config_types import endpoint_label
from openclaw_trace.push.cycle import CycleReport
from openclaw_trace.push.history import LastPush, PushHistory
from tests.push.conftest import Store

ENDPOINT = endpoint_label("https://push.example.com/v1/ingest?token=abc")


def make(store: Store) -> PushHistory:
    return PushHistory(store.writer, endpoint=ENDPOINT, format_name="json", stats=store.stats)


def test_a_cycle_is_one_push_log_row_and_the_last_push(store: Store) -> None:
    history = make(store)
    assert (history.last_push(), history.last, history.cycles) == (None, None, 0)
    report = CycleReport(
        started_at_ms=1_000, status="partial", events=3, batches=1, bytes=900, http_status=400, duration_ms=12
    )
    report.note_error("HTTP 400: bad")
    history.record(report)
    assert history.last_push() == LastPush(1_000, "partial")
    assert history.last is report
    assert history.cycles == 1
    [row] = store.rows("SELECT * FROM push_log")
    assert {k: v for k, v in row.items() if k != "id"} == {
        "started_at": 1_000,
        "duration_ms": 12,
        "status": "partial",
        "endpoint": ENDPOINT,
        "format": "json",
        "events": 3,
        "batches": 1,
        "bytes": 900,
        "http_status": 400,
        "error": "HTTP 400: bad",
    }


def test_skipped_cycles_are_rows_too(store: Store) -> None:
    history = make(store)
    history.record(CycleReport(started_at_ms=1, status="circuit_open"))
    history.record(CycleReport(started_at_ms=2, status="waiting", error="receiver asked to wait (Retry-After)"))
    assert [r["status"] for r in store.rows("SELECT status FROM push_log ORDER BY id")] == ["circuit_open", "waiting"]
    assert history.last_push() == LastPush(2, "waiting")
    assert history.cycles == 2


def test_a_cycle_that_raised_is_an_error_without_a_row(store: Store) -> None:
    history = make(store)
    history.record(CycleReport(started_at_ms=1))
    history.cycle_raised(5)
    assert history.last_push() == LastPush(5, "error")
    assert history.cycles == 1
    assert history.last is not None and history.last.status == "ok"
    assert len(store.rows("SELECT id FROM push_log")) == 1


def test_a_row_the_writer_cannot_take_is_counted_not_raised(store: Store) -> None:
    history = make(store)
    store.writer.stop(10)
    history.record(CycleReport(started_at_ms=1))
    assert history.last_push() == LastPush(1, "ok")
    assert store.stats.snapshot().counters["push.log_failures"] == 1
    assert store.rows("SELECT id FROM push_log") == []


@pytest.mark.parametrize(
    ("report", "level"),
    [
        (CycleReport(started_at_ms=0, events=2), logging.INFO),
        (CycleReport(started_at_ms=0), logging.DEBUG),  # a quiet cycle that pushed nothing
        (CycleReport(started_at_ms=0, status="circuit_open"), logging.INFO),
        (CycleReport(started_at_ms=0, status="waiting"), logging.INFO),
        (CycleReport(started_at_ms=0, status="failed"), logging.WARNING),
        (CycleReport(started_at_ms=0, status="partial", events=1), logging.WARNING),
        (CycleReport(started_at_ms=0, status="interrupted"), logging.WARNING),
    ],
)
def test_the_log_line_is_loud_only_when_a_cycle_went_wrong(
    store: Store, caplog: pytest.LogCaptureFixture, report: CycleReport, level: int
) -> None:
    with caplog.at_level(logging.DEBUG, logger="openclaw_trace.push"):
        make(store).record(report)
    [record] = [r for r in caplog.records if r.getMessage().startswith("push cycle")]
    assert (record.getMessage(), record.levelno) == (f"push cycle {report.status}", level)


@pytest.mark.parametrize(
    ("endpoint", "label"),
    [
        ("https://user:secret@example.com:8443/v1/ingest?token=abc", "https://example.com:8443/…#"),
        ("https://hooks.slack.com/services/T0123/B0456/XyZsecret", "https://hooks.slack.com:443/…#"),
        ("http://[::1]:9000/push", "http://[::1]:9000/…#"),
        ("http://127.0.0.1/x#frag", "http://127.0.0.1:80/…#"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),  # nothing to hide
    ],
)
def test_endpoint_label_keeps_only_scheme_host_and_port(endpoint: str, label: str) -> None:
    shown = endpoint_label(endpoint)
    assert shown.startswith(label)
    assert len(shown) == len(label) + (8 if label.endswith("#") else 0)  # and a short hash of the rest


def test_endpoint_labels_tell_endpoints_apart_by_what_they_hide() -> None:
    one, other = "https://hooks.slack.com/services/T1/B1/aaa", "https://hooks.slack.com/services/T1/B1/bbb"
    assert endpoint_label(one) == endpoint_label(one)
    assert endpoint_label(one) != endpoint_label(other)
