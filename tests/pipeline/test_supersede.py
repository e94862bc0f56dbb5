"""The plugin's errors replace the gateway log's and OTLP's about the same run, whichever came first."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from openclaw_trace.daemon import Daemon
from openclaw_trace.pipeline.supersede import SUPERSEDED_COUNTER, WINDOW_MS, Superseder
from openclaw_trace.stats import Stats
from openclaw_trace.storage import rollups, schema, writes
from openclaw_trace.storage.connection import open_read_connection, open_write_connection
from tests.api.test_otel_sdk import send_spans
from tests.conftest import Client, rows

RUN = "9b0aa24cd189393daa34a88e26ac2480"
OTHER_RUN = "53c7ae2cd1127888747710bb4b16d333"


def log_error(trace_id: str, message: str = "request failed (HTTP 500)") -> dict[str, Any]:
    return {"error_type": "llm_error", "message": message, "metadata": {"source": "gateway_log", "trace_id": trace_id}}


def plugin_error(error_type: str = "llm_error") -> dict[str, Any]:
    return {
        "error_type": error_type,
        "message": "500 the model failed",
        "metadata": {"source": "openclaw-plugin", "run_id": "r1", "w3c_trace_id": RUN},
    }


def stored(db_path: str) -> list[tuple[str, str]]:
    found = rows(db_path, "SELECT error_type, json_extract(metadata, '$.source') AS source FROM error_events")
    return sorted((row["source"] or "-", row["error_type"]) for row in found)


@pytest.mark.parametrize(("plugin_first", "writer"), [(False, "thread"), (True, "thread"), (True, "process")])
def test_the_plugins_errors_replace_the_logs_and_otlps_of_the_same_run(
    plugin_first: bool,
    writer: str,
    make_daemon: Callable[..., Daemon],
    connect: Callable[[Daemon], Client],
    db_path: str,
) -> None:
    daemon = make_daemon(writer=writer)
    client = connect(daemon)
    lesser = [
        log_error(RUN),
        log_error(RUN, "lane task error: lane=main"),
        {"error_type": "crash", "message": "agent run failed", "metadata": {"source": "otlp", "trace_id": RUN}},
        log_error(OTHER_RUN),  # a run the plugin did not report: kept
        {"error_type": "system_error", "message": "channel down", "metadata": {"source": "gateway_log"}},
        {"error_type": "llm_error", "message": "from a script", "metadata": {"trace_id": RUN}},  # not a feed of ours
    ]
    batches = [[plugin_error(), plugin_error("crash")], lesser]
    for batch in reversed(batches) if not plugin_first else batches:
        assert client.post("/v1/errors", batch)[0] == 202
        assert daemon.writer.flush(10)
    assert stored(db_path) == [
        ("-", "llm_error"),
        ("gateway_log", "llm_error"),
        ("gateway_log", "system_error"),
        ("openclaw-plugin", "crash"),
        ("openclaw-plugin", "llm_error"),
    ]
    health = client.health()
    assert health["counters"]["dedup.superseded"] == 3
    assert health["unsynced_count"] == 5


@pytest.mark.parametrize("plugin_first", [False, True])
def test_openclaws_exporter_spans_of_a_run_the_plugin_reported_give_way_to_the_plugins_trace(
    plugin_first: bool, daemon: Daemon, client: Client, db_path: str
) -> None:
    # OpenClaw's exporter parents its spans on the run's trace context: the same W3C trace id.
    run_context = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(int(RUN, 16), 0x1F46F48E32112235, is_remote=True, trace_flags=TraceFlags(1)))
    )
    other_context = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(int(OTHER_RUN, 16), 0x2A, is_remote=True, trace_flags=TraceFlags(1)))
    )

    def exporter_spans(tracer: Any) -> None:
        attributes = {"openclaw.provider": "fakellm", "openclaw.model": "fake-model", "openclaw.tokens.input": 321}
        for context in (run_context, other_context):
            with tracer.start_as_current_span("openclaw.model.usage", context=context, attributes=attributes):
                pass

    plugin_trace = {
        "provider": "fakellm",
        "model": "fake-model",
        "prompt_tokens": 321,
        "output_text": "Hello",
        "metadata": {"source": "openclaw-plugin", "run_id": "r1", "w3c_trace_id": RUN},
    }

    def send_plugin() -> None:
        assert client.post("/v1/traces", plugin_trace)[0] == 202
        assert daemon.writer.flush(10)

    def send_exporter() -> None:
        send_spans(f"http://127.0.0.1:{daemon.port}/v1/traces", "protobuf", exporter_spans)
        assert daemon.writer.flush(10)

    for send in (send_plugin, send_exporter) if plugin_first else (send_exporter, send_plugin):
        send()
    # Traces give way once the rollups count them: a roll-up, then the next supersede pass
    # (the writer runs one with the next batch that can meet a duplicate).
    daemon.writer.call(rollups.roll_up)
    daemon.writer.call(functools.partial(writes.supersede_duplicates, since_ms=0))
    found = rows(
        db_path,
        "SELECT json_extract(metadata, '$.source') AS source, output_text,"
        " coalesce(json_extract(metadata, '$.trace_id'), json_extract(metadata, '$.w3c_trace_id')) AS run"
        " FROM llm_traces ORDER BY source",
    )
    assert [(row["source"], row["run"]) for row in found] == [("openclaw-plugin", RUN), ("otlp", OTHER_RUN)]


def test_without_the_plugin_other_feeds_never_run_the_deletes() -> None:
    superseder = Superseder(Stats())
    otlp, plugin, api = {"otlp": 1}, {"plugin": 1}, {"api": 50}
    assert not superseder.wanted({"trace": otlp, "error": otlp, "metric_point": {"otlp": 9}}, now_ms=1_000_000)
    assert not superseder.wanted({"trace": api}, now_ms=1_000_000)
    assert superseder.wanted({"trace": plugin}, now_ms=1_000_000)
    assert superseder.wanted({"error": otlp}, now_ms=1_000_000 + WINDOW_MS - 1)
    assert not superseder.wanted({"error": otlp}, now_ms=1_000_000 + WINDOW_MS)
    assert not superseder.wanted({"trace": api}, now_ms=1_000_001)


def test_a_pass_counts_what_it_replaced_and_a_failed_one_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_path = str(tmp_path / "s.db")
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    now = 1_800_000_000_000
    plugin = {"source": "openclaw-plugin", "w3c_trace_id": RUN}
    log = {"source": "gateway_log", "trace_id": RUN}
    rows_of_the_run = [
        (f"e{n}", now - 1000, "llm_error", None, "error", "failed", None, None, None, None, None, None, json.dumps(m))
        for n, m in enumerate((plugin, log))
    ]
    writes.insert_rows(conn, "error", rows_of_the_run)
    stats = Stats()
    stats.set_unsynced(2)
    superseder = Superseder(stats)
    read_only = open_read_connection(db_path)
    try:
        with caplog.at_level(logging.WARNING, logger="openclaw_trace.pipeline"):
            superseder.run(read_only, now)  # the delete fails: said, and both rows stay
    finally:
        read_only.close()
    assert "could not replace duplicate rows" in caplog.text
    assert len(rows(db_path, "SELECT id FROM error_events")) == 2
    assert stats.snapshot().counters == {}
    superseder.run(conn, now)
    conn.close()
    assert [row["trace_id"] for row in rows(db_path, "SELECT trace_id FROM error_events")] == ["e0"]
    snapshot = stats.snapshot()
    assert snapshot.counters == {SUPERSEDED_COUNTER: 1}
    assert snapshot.unsynced == 1
