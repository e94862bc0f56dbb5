"""Spans as the mapper reads them, whichever encoding they came in.

A protobuf request (``spans_of_protobuf``) and an OTLP/JSON one
(``json_traces.decode_json_traces``) both become resources of scopes of
``SpanView``: plain values, attributes already turned into a dict once, so
that ``spans.map_spans`` is one mapper with one result for both encodings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from openclaw_trace.otlp.values import attributes, hex_id


class SpanView(NamedTuple):
    name: str
    trace_id: str | None  # lower-case hex; None when absent or all zero
    span_id: str | None
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    status_error: bool  # the status code is ERROR
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]  # (name, attributes)


class ResourceSpans(NamedTuple):
    attributes: dict[str, Any]  # the resource's
    scopes: list[tuple[str | None, list[SpanView]]]  # (scope name, its spans)


def spans_of_protobuf(request: ExportTraceServiceRequest) -> list[ResourceSpans]:
    return [
        ResourceSpans(
            attributes(resource_spans.resource.attributes),
            [
                (scope_spans.scope.name or None, [_span_view(span) for span in scope_spans.spans])
                for scope_spans in resource_spans.scope_spans
            ],
        )
        for resource_spans in request.resource_spans
    ]


def _span_view(span: Span) -> SpanView:
    status = span.status
    return SpanView(
        span.name,
        hex_id(span.trace_id),
        hex_id(span.span_id),
        hex_id(span.parent_span_id),
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        status.code == Status.STATUS_CODE_ERROR,
        status.message,
        attributes(span.attributes),
        [(event.name, attributes(event.attributes)) for event in span.events] if span.events else [],
    )
