"""Log and metric mapping on the recorded gateway requests and built ones."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from openclaw_trace.model import Envelope, EventLimits
from openclaw_trace.otlp.decode import decode_request
from openclaw_trace.otlp.logs import map_logs
from openclaw_trace.otlp.metrics import map_metrics
from openclaw_trace.storage.writes import COLUMNS
from tests.otlp.spans_builder import START_NS, kvs, logs_request

RECEIVED_MS = 1_800_000_000_000


def fields(envelope: Envelope) -> dict[str, Any]:
    return dict(zip(COLUMNS[envelope.kind], envelope.values, strict=True))


def recorded(name: str, signal: str) -> Any:
    with open(f"tests/fixtures/otlp/{name}", "rb") as body:
        return decode_request(signal, "protobuf", body.read())  # type: ignore[arg-type]


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


def test_recorded_metrics_become_points_with_names_units_and_attributes() -> None:
    result = map_metrics(recorded("0001_v1_metrics.bin", "metrics"), RECEIVED_MS)
    assert result.rejected == 0
    rows = [fields(e) for e in result.envelopes]
    assert rows
    first = rows[0]
    assert first["name"] == "openclaw.telemetry.exporter.events"
    assert first["kind"] == "sum"
    assert first["value"] == 1.0
    assert json.loads(first["attributes"])["openclaw.exporter"] == "diagnostics-otel"
    assert first["service_name"] == "openclaw-gateway"


def test_gauge_histogram_and_a_nameless_metric() -> None:
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    gauge = Metric(name="openclaw.memory.rss_bytes", unit="By")
    gauge.gauge.data_points.append(NumberDataPoint(time_unix_nano=START_NS, as_int=123456, attributes=kvs({})))
    tokens = Metric(name="gen_ai.client.token.usage", unit="{token}")
    point = tokens.histogram.data_points.add()
    point.time_unix_nano = START_NS
    point.count, point.sum = 3, 360.0
    point.explicit_bounds.extend([100.0, 1000.0])
    point.bucket_counts.extend([1, 2, 0])
    point.attributes.extend(kvs({"gen_ai.token.type": "input"}))
    nan_gauge = Metric(name="weird")
    nan_gauge.gauge.data_points.append(NumberDataPoint(as_double=float("nan")))
    scope.metrics.extend([gauge, tokens, nan_gauge, Metric(name="")])
    result = map_metrics(request, RECEIVED_MS)
    assert result.rejected == 1
    rows = [fields(e) for e in result.envelopes]
    assert (rows[0]["name"], rows[0]["unit"], rows[0]["kind"], rows[0]["value"]) == (
        "openclaw.memory.rss_bytes",
        "By",
        "gauge",
        123456.0,
    )
    assert (rows[1]["kind"], rows[1]["value"]) == ("histogram", 360.0)
    assert json.loads(rows[1]["metadata"])["bucket_counts"] == [1, 2, 0]
    assert rows[2]["value"] is None
    assert json.loads(rows[2]["metadata"])["non_finite_value"] == "nan"
    assert result.envelopes[2].created_at_ms == RECEIVED_MS  # no time on the point: when received
