"""Metric data points → otel_metrics rows, on the recorded gateway request and built ones."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE, Metric, NumberDataPoint

from openclaw_trace.otlp.metrics import map_metrics
from tests.otlp.spans_builder import START_NS, fields, kvs, recorded

RECEIVED_MS = 1_800_000_000_000


def request_of(*metrics: Metric, resource: dict[str, Any] | None = None) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(kvs(resource or {}))
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return request


def rows_of(request: ExportMetricsServiceRequest) -> list[dict[str, Any]]:
    return [fields(e) for e in map_metrics(request, RECEIVED_MS).envelopes]


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


def test_a_sum_keeps_whether_it_only_grows_and_its_temporality() -> None:
    sessions = Metric(name="openclaw.sessions.started", unit="{session}")
    sessions.sum.is_monotonic = True
    sessions.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    sessions.sum.data_points.append(NumberDataPoint(time_unix_nano=START_NS, as_int=7))
    request = request_of(sessions, resource={"service.name": "openclaw-gateway", "host.name": "agent-host"})
    [row] = rows_of(request)
    assert (row["kind"], row["value"], row["service_name"]) == ("sum", 7.0, "openclaw-gateway")
    assert json.loads(row["metadata"]) == {"monotonic": True, "temporality": 2, "host_name": "agent-host"}


def test_exponential_histograms_and_summaries_keep_their_sum_and_count() -> None:
    latency = Metric(name="gen_ai.client.operation.duration", unit="s")
    point = latency.exponential_histogram.data_points.add()
    point.count, point.sum = 4, 2.5
    unsummed = latency.exponential_histogram.data_points.add()
    unsummed.count = 2  # the sum is optional: no value then
    sizes = Metric(name="openclaw.message.bytes")
    quantiles = sizes.summary.data_points.add()
    quantiles.count, quantiles.sum = 10, 4096.0
    rows = rows_of(request_of(latency, sizes))
    assert [(row["kind"], row["value"]) for row in rows] == [
        ("exponential_histogram", 2.5),
        ("exponential_histogram", None),
        ("summary", 4096.0),
    ]
    assert [json.loads(row["metadata"]) for row in rows] == [{"count": 4, "sum": 2.5}, {"count": 2},
                                                             {"count": 10, "sum": 4096.0}]  # fmt: skip


def test_a_metric_without_data_is_ignored_and_a_long_name_refused_not_cut() -> None:
    result = map_metrics(request_of(Metric(name="nothing.yet"), Metric(name="n" * 257)), RECEIVED_MS)
    assert (result.envelopes, result.ignored, result.rejected) == ([], 1, 1)
    assert result.errors == ["metric name empty or over 256 characters"]


def test_odd_points_still_make_rows_that_hold_valid_json() -> None:
    gauge = Metric(name="odd", unit="u" * 100)
    nan = KeyValue(key="ratio", value=AnyValue(double_value=float("nan")))
    gauge.gauge.data_points.extend(
        [
            NumberDataPoint(),  # no value at all
            NumberDataPoint(as_double=float("-inf")),
            NumberDataPoint(as_double=1.0, attributes=[nan]),
        ]
    )
    rows = rows_of(request_of(gauge))
    assert [row["value"] for row in rows] == [None, None, 1.0]
    assert rows[0]["unit"] == "u" * 64
    assert json.loads(rows[1]["metadata"]) == {"non_finite_value": "-inf"}
    assert json.loads(rows[2]["attributes"]) == {"ratio": None}  # NaN is no JSON: null
