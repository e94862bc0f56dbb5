"""Metric data points → rows of ``otel_metrics`` (name, unit, kind, value, attributes, time). Pure.

Gauges and sums keep their value; histograms, exponential histograms and
summaries keep their sum as the value and count/sum/min/max (and buckets)
in metadata, so cost and load can be charted without the full shape.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from openclaw_trace.model import Envelope
from openclaw_trace.otlp.values import MappingResult, ResourceInfo, attributes, nanos_to_ms

MAX_NAME = 256


def map_metrics(request: ExportMetricsServiceRequest, received_at_ms: int) -> MappingResult:
    result = MappingResult()
    for resource_metrics in request.resource_metrics:
        resource = ResourceInfo.of(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if not metric.name or len(metric.name) > MAX_NAME:
                    result.reject("metric name empty or over 256 characters")
                    continue
                _map_metric(metric, resource, received_at_ms, result)
    return result


def _map_metric(metric: Metric, resource: ResourceInfo, received_at_ms: int, result: MappingResult) -> None:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        data = metric.gauge if kind == "gauge" else metric.sum
        for point in data.data_points:
            extra: dict[str, Any] = {}
            if kind == "sum":
                extra = {"monotonic": metric.sum.is_monotonic, "temporality": metric.sum.aggregation_temporality}
            _add(
                result,
                metric,
                kind,
                _number(point),
                point.attributes,
                point.time_unix_nano,
                resource,
                received_at_ms,
                extra,
            )
    elif kind == "histogram":
        for h_point in metric.histogram.data_points:
            extra = {
                "count": h_point.count,
                "sum": h_point.sum if h_point.HasField("sum") else None,
                "min": h_point.min if h_point.HasField("min") else None,
                "max": h_point.max if h_point.HasField("max") else None,
                "bounds": list(h_point.explicit_bounds),
                "bucket_counts": list(h_point.bucket_counts),
            }
            _add(
                result,
                metric,
                kind,
                extra["sum"],
                h_point.attributes,
                h_point.time_unix_nano,
                resource,
                received_at_ms,
                extra,
            )
    elif kind == "exponential_histogram":
        for e_point in metric.exponential_histogram.data_points:
            extra = {"count": e_point.count, "sum": e_point.sum if e_point.HasField("sum") else None}
            _add(
                result,
                metric,
                kind,
                extra["sum"],
                e_point.attributes,
                e_point.time_unix_nano,
                resource,
                received_at_ms,
                extra,
            )
    elif kind == "summary":
        for s_point in metric.summary.data_points:
            extra = {"count": s_point.count, "sum": s_point.sum}
            _add(
                result,
                metric,
                kind,
                s_point.sum,
                s_point.attributes,
                s_point.time_unix_nano,
                resource,
                received_at_ms,
                extra,
            )
    else:
        result.ignored += 1


def _number(point: NumberDataPoint) -> float | None:
    which = point.WhichOneof("value")
    if which == "as_double":
        return point.as_double
    if which == "as_int":
        return float(point.as_int)
    return None


def _add(
    result: MappingResult,
    metric: Metric,
    kind: str,
    value: float | None,
    point_attributes: Any,
    time_unix_nano: int,
    resource: ResourceInfo,
    received_at_ms: int,
    extra: dict[str, Any],
) -> None:
    if value is not None and not math.isfinite(value):
        extra = {**extra, "non_finite_value": str(value)}
        value = None
    metadata = {key: val for key, val in extra.items() if val is not None}
    if resource.host_name:
        metadata["host_name"] = resource.host_name
    result.envelopes.append(
        Envelope(
            "metric_point",
            nanos_to_ms(time_unix_nano) or received_at_ms,
            (
                metric.name,
                metric.unit[:64] or None,
                kind,
                value,
                _json(attributes(point_attributes)),
                resource.service_name,
                _json(metadata) if metadata else None,
            ),
        )
    )


def _json(value: dict[str, Any]) -> str | None:
    if not value:
        return None
    # msgspec writes NaN and Infinity as null, where json.dumps would write invalid JSON.
    return msgspec.json.encode(value).decode("utf-8")
