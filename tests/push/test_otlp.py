"""OTLP push: the bodies decode with the official OTLP protobuf classes into the expected spans, logs and gauges."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from openclaw_trace.otlp.values import any_value, attributes
from tests.push.conftest import ALL_KINDS, Store
from tests.push.receiver import Receiver, Recorded
from tests.push.test_scheduler import make


def decoded(records: list[Recorded], path: str, message: Any) -> list[Any]:
    out = []
    for record in records:
        if record.path == path:
            request = message()
            request.ParseFromString(record.body)
            out.append(request)
    return out


def pushed(store: Store) -> list[Recorded]:
    for kind in ALL_KINDS:
        store.add(kind, 5)
    with Receiver() as receiver:
        report = make(store, receiver.url + "/otlp", fmt="otlp").run_cycle(15)
        records = list(receiver.records)
    assert report.status == "ok"
    assert store.unsynced() == 0
    assert all(r.headers["content-type"] == "application/x-protobuf" for r in records)
    return records


def test_model_calls_become_genai_client_spans(store: Store) -> None:
    records = pushed(store)
    [request] = decoded(records, "/otlp/v1/traces", ExportTraceServiceRequest)
    [resource_spans] = request.resource_spans
    resource = attributes(resource_spans.resource.attributes)
    assert resource["service.name"] == "openclaw"
    assert resource["host.name"] == "test-host"
    assert resource["gen_ai.agent.id"] == "agent-1"
    spans = list(resource_spans.scope_spans[0].spans)
    assert len(spans) == 5
    stored = {r["trace_id"]: r for r in store.rows("SELECT * FROM llm_traces")}
    for span in spans:
        attrs = attributes(span.attributes)
        row = stored[attrs["openclaw.trace_id"]]
        assert span.trace_id == uuid.UUID(row["trace_id"]).bytes
        assert len(span.span_id) == 8
        assert span.name == f"chat {row['model']}"
        assert span.kind == Span.SpanKind.SPAN_KIND_CLIENT
        assert span.end_time_unix_nano == row["created_at"] * 1_000_000
        assert span.end_time_unix_nano - span.start_time_unix_nano == 250 * 1_000_000
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "anthropic"
        assert attrs["gen_ai.request.model"] == row["model"]
        assert attrs["gen_ai.usage.input_tokens"] == row["prompt_tokens"]
        assert attrs["gen_ai.usage.output_tokens"] == row["completion_tokens"]
        assert attrs["gen_ai.usage.cache_read.input_tokens"] == 2
        assert "gen_ai.usage.cache_creation.input_tokens" not in attrs  # None is left out
        assert attrs["gen_ai.conversation.id"] == row["session_id"]
        assert attrs["openclaw.cost_usd"] == row["cost_usd"]
        assert attrs["openclaw.metadata"]["tag"] == "t"
        if row["status"] == "error":
            assert span.status.code == Status.StatusCode.STATUS_CODE_ERROR
            assert attrs["error.type"] == "rate_limit"
        else:
            assert span.status.code == Status.StatusCode.STATUS_CODE_UNSET
            assert "error.type" not in attrs


def test_errors_and_gateway_events_become_log_records_and_the_ledger_rides_along(store: Store) -> None:
    records = pushed(store)
    logs = decoded(records, "/otlp/v1/logs", ExportLogsServiceRequest)
    found = [r for request in logs for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    by_event: dict[str, list[Any]] = {}
    for record in found:
        by_event.setdefault(record.event_name, []).append(record)
    assert len(by_event["openclaw.error"]) == 5
    error = by_event["openclaw.error"][0]
    attrs = attributes(error.attributes)
    assert error.severity_number == 17 and error.severity_text == "ERROR"
    assert any_value(error.body).startswith("rate limited")
    assert attrs["exception.type"] == "llm_error"
    assert attrs["exception.stacktrace"] == "Traceback ..."
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["openclaw.trace_id"] in {r["trace_id"] for r in store.rows("SELECT trace_id FROM error_events")}
    gateway = by_event["openclaw.gateway.channel_disconnect"]
    assert len(gateway) == 5
    assert gateway[0].severity_number == 13
    assert attributes(gateway[0].attributes)["openclaw.gateway.channel"] == "telegram"
    [ledger] = by_event["openclaw_trace.push.ledger"]
    ledger_attrs = attributes(ledger.attributes)
    assert ledger_attrs["openclaw_trace.ledger.received.trace"] == 5
    assert ledger_attrs["openclaw_trace.ledger.stored.gateway_event"] == 5


def test_host_metrics_and_otel_points_become_gauges(store: Store) -> None:
    records = pushed(store)
    requests = decoded(records, "/otlp/v1/metrics", ExportMetricsServiceRequest)
    gauges: dict[tuple[str, str], list[Any]] = {}
    for request in requests:
        for rm in request.resource_metrics:
            service = attributes(rm.resource.attributes)["service.name"]
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    assert metric.WhichOneof("data") == "gauge"
                    gauges.setdefault((service, metric.name), []).extend(metric.gauge.data_points)
    cpu = gauges[("openclaw", "system.cpu.utilization")]
    assert len(cpu) == 5 and cpu[0].as_double == 0.125
    assert attributes(cpu[0].attributes) == {"openclaw.source": "host"}
    usage = gauges[("openclaw", "system.filesystem.usage")]
    assert sorted((attributes(p.attributes)["system.filesystem.state"], p.as_int) for p in usage)[:1] == [
        ("free", 6000)
    ]
    assert gauges[("openclaw", "system.memory.usage")][0].as_int == 1000
    assert {("openclaw", "openclaw.host.disk.io"), ("openclaw", "system.memory.limit")} <= gauges.keys()
    points = gauges[("openclaw-gateway", "openclaw.tokens")]
    assert sorted(p.as_double for p in points) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert attributes(points[0].attributes) == {"openclaw.channel": "telegram"}


def test_otlp_batches_respect_the_payload_limit(store: Store) -> None:
    store.add("trace", 30, text="y" * 300)
    with Receiver() as receiver:
        make(store, receiver.url, fmt="otlp", max_payload_bytes=3_000).run_cycle(15)
        traces = decoded(receiver.records, "/v1/traces", ExportTraceServiceRequest)
        sizes = [len(r.body) for r in receiver.records if r.path == "/v1/traces"]
    assert len(traces) > 1
    assert max(sizes) <= 3_000
    assert sum(len(t.resource_spans[0].scope_spans[0].spans) for t in traces) == 30
    assert store.unsynced() == 0
