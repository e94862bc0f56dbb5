"""Log records → error events, on the recorded gateway request and built ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.logs import map_logs
from tests.otlp.spans_builder import START_NS, fields, kvs, logs_request, recorded

RECEIVED_MS = 1_800_000_000_000


def test_recorded_info_logs_are_counted_not_stored() -> None:
    result = map_logs(recorded("0002_v1_logs.bin", "logs"), RECEIVED_MS, EventLimits())
    assert result.envelopes == []
    assert result.ignored > 0


def test_warn_and_above_become_error_events_with_their_subsystem() -> None:
    request = logs_request(
        (9, "heartbeat: started", {"openclaw.subsystem": "gateway/heartbeat"}),
        (13, "provider slow", {"openclaw.subsystem": "agents/model"}),
        (17, "lane error", {"openclaw.subsystem": "gateway/lanes"}),
        (21, "uncaught exception", {"openclaw.subsystem": "gateway", "exception.stacktrace": "Error: x\n  at y"}),
    )
    result = map_logs(request, RECEIVED_MS, EventLimits())
    assert result.ignored == 1
    rows = [fields(e) for e in result.envelopes]
    assert [(r["error_type"], r["severity"], r["category"]) for r in rows] == [
        ("system_error", "warning", "agents/model"),
        ("system_error", "error", "gateway/lanes"),
        ("crash", "critical", "gateway"),
    ]
    assert rows[2]["stack_trace"] == "Error: x\n  at y"
    assert json.loads(rows[0]["metadata"])["service_name"] == "openclaw-gateway"
    assert result.envelopes[0].created_at_ms == START_NS // 1_000_000


def one_record(**fields: Any) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    scope_logs.scope.name = fields.pop("scope", "")
    scope_logs.log_records.append(LogRecord(**fields))
    return request


@pytest.mark.parametrize(
    ("text", "severity"),
    [("WARN", "warning"), ("Warning", "warning"), ("error", "error"), ("FATAL", "critical"), ("critical", "critical")],
)
def test_a_record_with_only_a_severity_text_is_judged_by_it(text: str, severity: str) -> None:
    result = map_logs(one_record(severity_text=text, body=AnyValue(string_value="x")), RECEIVED_MS, EventLimits())
    [row] = [fields(e) for e in result.envelopes]
    assert row["severity"] == severity
    assert json.loads(row["metadata"])["severity_text"] == text


def test_a_record_without_a_severity_we_know_is_counted_not_stored() -> None:
    for record in ({}, {"severity_text": "notice"}, {"severity_number": 12}):
        result = map_logs(one_record(**record), RECEIVED_MS, EventLimits())
        assert (result.envelopes, result.ignored) == ([], 1)


def test_the_message_comes_from_the_body_else_the_exception_else_the_severity() -> None:
    structured = AnyValue()
    structured.kvlist_value.values.extend(kvs({"event": "lane stalled", "lane": 3}))
    records = [
        {"body": structured},
        {"attributes": kvs({"exception.message": "ECONNRESET"})},
        {"severity_text": "ERROR"},
        {},
    ]
    messages = [
        fields(map_logs(one_record(severity_number=17, **r), RECEIVED_MS, EventLimits()).envelopes[0])["message"]
        for r in records
    ]
    assert messages == ['{"event":"lane stalled","lane":3}', "ECONNRESET", "ERROR log record", "WARN log record"]


def test_the_time_is_the_records_else_when_it_was_observed_else_when_it_came() -> None:
    at = [
        map_logs(one_record(severity_number=17, **times), RECEIVED_MS, EventLimits()).envelopes[0].created_at_ms
        for times in ({"time_unix_nano": START_NS, "observed_time_unix_nano": START_NS + 10**9},
                      {"observed_time_unix_nano": START_NS + 10**9}, {})
    ]  # fmt: skip
    assert at == [START_NS // 10**6, START_NS // 10**6 + 1000, RECEIVED_MS]


def test_ids_and_the_scope_are_kept_and_a_long_category_is_cut_not_refused() -> None:
    request = one_record(
        severity_number=17,
        scope="s" * 300,
        trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        span_id=bytes(8),  # all zero: no span
    )
    result = map_logs(request, RECEIVED_MS, EventLimits())
    assert result.rejected == 0
    [row] = [fields(e) for e in result.envelopes]
    assert row["category"] == "s" * 256
    metadata = json.loads(row["metadata"])
    assert metadata["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "span_id" not in metadata  # absent, not null
    assert metadata["scope"] == "s" * 300
