"""The OTLP push format: stored rows → OTLP/HTTP protobuf requests an OpenTelemetry Collector takes as is.

Built with the official ``opentelemetry-proto`` classes. Pure: rows in, bytes out.

- ``llm_traces`` → spans on ``/v1/traces``, named ``chat <model>``, kind
  CLIENT, with GenAI semantic-convention attributes (``gen_ai.operation.name``,
  ``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.usage.*``,
  ``gen_ai.conversation.id``, ``gen_ai.agent.id``, ``error.type``). The row's
  UUID is the span's trace id (16 bytes) and its last 8 bytes the span id,
  so a re-sent row is the same span. ``created_at`` is when the call was
  reported, taken as its end; the start is ``latency_ms`` earlier. Status
  ERROR for a failed call, UNSET otherwise (as the conventions ask).
- ``error_events`` and ``gateway_events`` → log records on ``/v1/logs``
  (``event_name`` ``openclaw.error`` / ``openclaw.gateway.<kind>``, severity
  from the row, ``exception.*`` attributes for errors).
- ``system_metrics`` and ``otel_metrics`` → gauge points on ``/v1/metrics``
  (``system.cpu.utilization``, ``system.memory.usage``, ``system.filesystem.*``
  …; otel points under their own name and service).
- Every span and log record carries ``openclaw.trace_id`` (the row's UUID)
  for de-duplication. Metric points do not (it would make each point its
  own series); a gauge point is identified by name, attributes and time.
- The loss ledger travels as one log record per cycle,
  ``event_name = openclaw_trace.push.ledger``, with integer attributes
  ``openclaw_trace.ledger.received.<kind>``, ``….stored.<kind>``,
  ``….dropped.<reason>.<kind>``, ``….since_ms``, ``….until_ms``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from openclaw_trace import __version__
from openclaw_trace.push.batches import Request, Row, Sized, shrink_values
from openclaw_trace.push.ledger import Ledger

CONTENT_TYPE = "application/x-protobuf"
SERVICE_NAME = "openclaw"
SCOPE_NAME = "openclaw-trace"
PATHS = {
    "llm_traces": "/v1/traces",
    "error_events": "/v1/logs",
    "gateway_events": "/v1/logs",
    "system_metrics": "/v1/metrics",
    "otel_metrics": "/v1/metrics",
}
_SEVERITY = {"trace": 1, "debug": 5, "info": 9, "notice": 10, "warn": 13, "warning": 13}
_SEVERITY |= {"error": 17, "critical": 21, "fatal": 21}
_TEXT_COLUMNS = ("input_text", "output_text", "stack_trace", "message", "metadata", "attributes")
# Per-item framing (tag + length varints) and a resource/scope envelope: upper bounds.
_ITEM_FRAMING = 16
_ENVELOPE_BYTES = 1024

Point = tuple[str, str, NumberDataPoint]  # metric name, unit, point


def any_value(value: Any) -> AnyValue:
    """A plain Python value as an OTLP ``AnyValue`` (objects and lists nest)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, Mapping):
        out = AnyValue()
        out.kvlist_value.values.extend(key_values(value))
        return out
    if isinstance(value, list | tuple):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    """Attributes without the None values (OTLP has no null attribute)."""
    return [KeyValue(key=str(k), value=any_value(v)) for k, v in attrs.items() if v is not None]


def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        found = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {"text": text}
    return found if isinstance(found, dict) else {"value": found}


def _nanos(ms: Any) -> int:
    """Milliseconds (int or float) → nanoseconds, exact for whole milliseconds."""
    if ms is None:
        return 0
    return int(ms) * 1_000_000 if isinstance(ms, int) else round(float(ms) * 1_000_000)


def span_of(row: Row) -> Span:
    """One ``llm_traces`` row as a GenAI client span."""
    v = row.values
    raw_id = uuid.UUID(row.trace_id).bytes
    end_ns = _nanos(v["created_at"])
    latency_ms = v.get("latency_ms") or 0
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": v.get("provider"),
        "gen_ai.request.model": v.get("model"),
        "gen_ai.response.model": v.get("model"),
        "gen_ai.usage.input_tokens": v.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": v.get("completion_tokens"),
        "gen_ai.usage.cache_read.input_tokens": v.get("cache_read_tokens"),
        "gen_ai.usage.cache_creation.input_tokens": v.get("cache_write_tokens"),
        "gen_ai.conversation.id": v.get("session_id"),
        "gen_ai.agent.id": v.get("agent_id"),
        "gen_ai.input.messages": _messages("user", v.get("input_text")),
        "gen_ai.output.messages": _messages("assistant", v.get("output_text")),
        "error.type": v.get("error_type") or ("error" if v.get("status") == "error" else None),
        "openclaw.channel": v.get("channel"),
        "openclaw.usage.total_tokens": v.get("total_tokens"),
        "openclaw.cost_usd": v.get("cost_usd"),
        "openclaw.cost_source": v.get("cost_source"),
        "openclaw.trace_id": row.trace_id,
    }
    metadata = _json_object(v.get("metadata"))
    if metadata:
        attrs["openclaw.metadata"] = metadata
    span = Span(
        trace_id=raw_id,
        span_id=raw_id[8:],
        name=f"chat {v.get('model')}",
        kind=Span.SpanKind.SPAN_KIND_CLIENT,
        start_time_unix_nano=max(0, end_ns - _nanos(latency_ms)),
        end_time_unix_nano=end_ns,
        attributes=key_values(attrs),
    )
    if v.get("status") == "error":
        span.status.CopyFrom(Status(code=Status.StatusCode.STATUS_CODE_ERROR, message=v.get("error_type") or ""))
    return span


def _messages(role: str, text: Any) -> str | None:
    """Text as the GenAI conventions' JSON message list (None when there is no text)."""
    if not isinstance(text, str) or not text:
        return None
    message = {"role": role, "parts": [{"type": "text", "content": text}]}
    return msgspec.json.encode([message]).decode()


def log_of(row: Row) -> LogRecord:
    """One ``error_events`` or ``gateway_events`` row as a log record."""
    v = row.values
    if row.table == "error_events":
        severity = str(v.get("severity") or "error")
        event_name = "openclaw.error"
        attrs: dict[str, Any] = {
            "exception.type": v.get("error_type"),
            "exception.message": v.get("message"),
            "exception.stacktrace": v.get("stack_trace"),
            "openclaw.error.category": v.get("category"),
            "gen_ai.provider.name": v.get("provider"),
            "gen_ai.request.model": v.get("model"),
            "gen_ai.conversation.id": v.get("session_id"),
            "gen_ai.agent.id": v.get("agent_id"),
            "openclaw.channel": v.get("channel"),
        }
    else:
        severity = str(v.get("level") or "info")
        event_name = f"openclaw.gateway.{v.get('kind')}"
        attrs = {"openclaw.subsystem": v.get("subsystem"), "openclaw.gateway.kind": v.get("kind")}
        for key, value in _json_object(v.get("attributes")).items():
            attrs.setdefault(f"openclaw.gateway.{key}", value)
    metadata = _json_object(v.get("metadata"))
    if metadata:
        attrs["openclaw.metadata"] = metadata
    attrs["openclaw.trace_id"] = row.trace_id
    at = _nanos(v["created_at"])
    return LogRecord(
        time_unix_nano=at,
        observed_time_unix_nano=at,
        severity_number=_SEVERITY.get(severity.lower(), 0),  # type: ignore[arg-type]
        severity_text=severity.upper(),
        body=AnyValue(string_value=str(v.get("message") or "")),
        attributes=key_values(attrs),
        event_name=event_name,
    )


def _point(name: str, unit: str, value: Any, at_ns: int, attrs: Mapping[str, Any]) -> Point | None:
    if value is None or isinstance(value, bool):
        return None
    point = NumberDataPoint(time_unix_nano=at_ns, attributes=key_values(attrs))
    if isinstance(value, int):
        point.as_int = value
    else:
        point.as_double = float(value)
    return name, unit, point


def points_of(row: Row) -> list[Point]:
    """One ``system_metrics`` or ``otel_metrics`` row as gauge points."""
    v = row.values
    at = _nanos(v["created_at"])
    if row.table == "otel_metrics":
        attrs = _json_object(v.get("attributes"))
        found = _point(str(v["name"]), str(v.get("unit") or ""), v.get("value"), at, attrs)
        return [found] if found else []
    base = {"openclaw.source": v.get("source")}
    cpu = v.get("cpu_percent")
    disk = v.get("disk_percent")
    candidates = [
        _point("system.cpu.utilization", "1", cpu / 100 if cpu is not None else None, at, base),
        _point("system.memory.usage", "By", v.get("mem_used_bytes"), at, {**base, "system.memory.state": "used"}),
        _point("system.memory.linux.available", "By", v.get("mem_available_bytes"), at, base),
        _point("system.memory.limit", "By", v.get("mem_total_bytes"), at, base),
        _point("system.filesystem.limit", "By", v.get("disk_total_bytes"), at, base),
        _point(
            "system.filesystem.usage", "By", v.get("disk_used_bytes"), at, {**base, "system.filesystem.state": "used"}
        ),
        _point(
            "system.filesystem.usage", "By", v.get("disk_free_bytes"), at, {**base, "system.filesystem.state": "free"}
        ),
        _point("system.filesystem.utilization", "1", disk / 100 if disk is not None else None, at, base),
        # Bytes in the sampling interval, not a running total: a gauge under our own name.
        _point("openclaw.host.disk.io", "By", v.get("io_read_bytes"), at, {**base, "disk.io.direction": "read"}),
        _point("openclaw.host.disk.io", "By", v.get("io_write_bytes"), at, {**base, "disk.io.direction": "write"}),
    ]
    return [p for p in candidates if p is not None]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field: tag, length, bytes."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _number(message: Any, field: str) -> int:
    return int(message.DESCRIPTOR.fields_by_name[field].number)


# Field numbers from the official descriptors, for assembling requests from pre-serialised parts.
_RESOURCE_SPANS = _number(ExportTraceServiceRequest, "resource_spans")
_SCOPE_SPANS = _number(ResourceSpans, "scope_spans")
_SPANS = _number(ScopeSpans, "spans")
_RESOURCE_LOGS = _number(ExportLogsServiceRequest, "resource_logs")
_SCOPE_LOGS = _number(ResourceLogs, "scope_logs")
_LOG_RECORDS = _number(ScopeLogs, "log_records")
_RESOURCE_METRICS = _number(ExportMetricsServiceRequest, "resource_metrics")
_SCOPE_METRICS = _number(ResourceMetrics, "scope_metrics")
_METRICS = _number(ScopeMetrics, "metrics")
_GAUGE = _number(Metric, "gauge")
_DATA_POINTS = _number(Gauge, "data_points")


class OtlpEncoder:
    """Rows → OTLP/HTTP protobuf requests, one signal per request. Safe to share.

    Each row is serialised once, as soon as it is read (a span, a log record,
    gauge points), and a request is the concatenation of those bytes inside
    the resource and scope envelopes — a protobuf message is the sequence of
    its fields, so this is byte for byte what the official classes would
    write, without holding thousands of message objects per batch.
    """

    name = "otlp"
    carries_ledger = False

    def __init__(self, host: str, agent_id: str | None = None) -> None:
        self._resource_attrs: dict[str, Any] = {
            "service.name": SERVICE_NAME,
            "host.name": host,
            "gen_ai.agent.id": agent_id,
            "openclaw_trace.version": __version__,
        }
        self._scope = InstrumentationScope(name=SCOPE_NAME, version=__version__)

    def _resource(self, service: str | None = None) -> Resource:
        attrs = dict(self._resource_attrs)
        if service:
            attrs["service.name"] = service
        return Resource(attributes=key_values(attrs))

    def _encode(self, row: Row) -> tuple[str | None, list[tuple[str, str, bytes]]] | bytes:
        if row.table == "llm_traces":
            return _field(_SPANS, span_of(row).SerializeToString())
        if row.table in ("error_events", "gateway_events"):
            return _field(_LOG_RECORDS, log_of(row).SerializeToString())
        service = row.values.get("service_name") if row.table == "otel_metrics" else None
        return (
            service,
            [(name, unit, _field(_DATA_POINTS, p.SerializeToString())) for name, unit, p in points_of(row)],
        )

    @staticmethod
    def _size(item: Any) -> int:
        if isinstance(item, tuple):
            points: list[tuple[str, str, bytes]] = item[1]
            # A point may open a new Metric (name, unit, framing) in the request: count that too.
            return sum(len(raw) + len(name) + len(unit) + _ITEM_FRAMING for name, unit, raw in points)
        return len(item)

    def item(self, row: Row, budget_bytes: int) -> Sized[Any]:
        encoded = self._encode(row)
        size = self._size(encoded)
        if size > budget_bytes:
            values, _ = shrink_values(row.values, size - budget_bytes, _TEXT_COLUMNS)
            encoded = self._encode(Row(row.table, row.id, values))
            size = self._size(encoded)
        return Sized(row.id, size, encoded, row.trace_id)

    def overhead_bytes(self, ledger: Ledger | None) -> int:
        return _ENVELOPE_BYTES

    def _envelope(self, outer: int, middle: int, resource: Resource, scope_body: bytes) -> bytes:
        """``{outer: {resource, middle: {scope, <scope_body>}}}`` as bytes.

        ``resource`` and ``scope`` are field 1 in all three signals' messages,
        so the span-side classes serialise them for logs and metrics alike.
        """
        scope_part = _field(middle, ScopeSpans(scope=self._scope).SerializeToString() + scope_body)
        resource_part = ResourceSpans(resource=resource).SerializeToString() + scope_part
        return _field(outer, resource_part)

    def request(self, table: str, items: Sequence[Sized[Any]], ledger: Ledger | None) -> Request:
        path = PATHS[table]
        if path == "/v1/traces":
            body = self._envelope(_RESOURCE_SPANS, _SCOPE_SPANS, self._resource(), b"".join(i.item for i in items))
        elif path == "/v1/logs":
            body = self._envelope(_RESOURCE_LOGS, _SCOPE_LOGS, self._resource(), b"".join(i.item for i in items))
        else:
            body = self._metrics(items)
        return Request(path, body, CONTENT_TYPE, len(items))

    def _metrics(self, items: Sequence[Sized[Any]]) -> bytes:
        # service → (name, unit) → serialised points, in first-seen order; otel points keep their own service.
        groups: dict[str | None, dict[tuple[str, str], list[bytes]]] = {}
        for sized in items:
            service, points = sized.item
            by_metric = groups.setdefault(service, {})
            for name, unit, raw in points:
                by_metric.setdefault((name, unit), []).append(raw)
        parts = []
        for service, by_metric in groups.items():
            metrics = b"".join(
                _field(_METRICS, Metric(name=name, unit=unit).SerializeToString() + _field(_GAUGE, b"".join(raws)))
                for (name, unit), raws in by_metric.items()
            )
            parts.append(self._envelope(_RESOURCE_METRICS, _SCOPE_METRICS, self._resource(service), metrics))
        return b"".join(parts)

    def ledger_request(self, ledger: Ledger) -> Request | None:
        attrs: dict[str, Any] = {f"openclaw_trace.ledger.{k}": v for k, v in ledger.flat().items()}
        attrs["openclaw_trace.ledger.since_ms"] = ledger.since_ms
        attrs["openclaw_trace.ledger.until_ms"] = ledger.until_ms
        record = LogRecord(
            time_unix_nano=_nanos(ledger.until_ms),
            observed_time_unix_nano=_nanos(ledger.until_ms),
            severity_number=9,  # type: ignore[arg-type]
            severity_text="INFO",
            body=AnyValue(string_value="openclaw-trace loss ledger"),
            attributes=key_values(attrs),
            event_name="openclaw_trace.push.ledger",
        )
        records = _field(_LOG_RECORDS, record.SerializeToString())
        return Request(
            "/v1/logs", self._envelope(_RESOURCE_LOGS, _SCOPE_LOGS, self._resource(), records), CONTENT_TYPE, 0
        )
