"""Builds OTLP protobuf export requests for tests, with the official classes."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from openclaw_trace.model import Envelope, EventLimits
from openclaw_trace.otlp.decode import decode_request, decode_spans
from openclaw_trace.otlp.spans import map_spans
from openclaw_trace.otlp.values import MappingResult
from openclaw_trace.storage.writes import COLUMNS

START_NS = 1_795_000_000_000_000_000
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}
TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")


def value(python: Any) -> AnyValue:
    if python is None:
        return AnyValue()  # an empty value: none of its fields set
    if isinstance(python, bool):
        return AnyValue(bool_value=python)
    if isinstance(python, int):
        return AnyValue(int_value=python)
    if isinstance(python, float):
        return AnyValue(double_value=python)
    return AnyValue(string_value=str(python))


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=value(val)) for key, val in attrs.items()]


def span(
    name: str,
    attrs: dict[str, Any] | None = None,
    error: str | None = None,
    duration_ms: int = 1500,
) -> Span:
    result = Span(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        name=name,
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + duration_ms * 1_000_000,
        attributes=kvs(attrs or {}),
    )
    if error is not None:
        result.status.code = Status.STATUS_CODE_ERROR
        result.status.message = error
    return result


def traces_request(*spans: Span, service: str = "openclaw-gateway") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(kvs({"service.name": service, "host.name": "agent-host"}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "openclaw"
    scope_spans.spans.extend(spans)
    return request


def logs_request(*records: tuple[int, str, dict[str, Any]]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(kvs({"service.name": "openclaw-gateway"}))
    scope_logs = resource_logs.scope_logs.add()
    for severity, body, attrs in records:
        scope_logs.log_records.append(
            LogRecord(
                time_unix_nano=START_NS,
                severity_number=severity,  # type: ignore[arg-type]
                body=AnyValue(string_value=body),
                attributes=kvs(attrs),
            )
        )
    return request


def otlp_json(request: ExportTraceServiceRequest, hex_ids: bool = True) -> bytes:
    """``request`` in OTLP/JSON: protobuf's JSON mapping, with ids in hex as OTLP/JSON writes them
    (``hex_ids``) or left in base64 as protobuf's own printer writes them."""

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: base64.b64decode(value).hex() if key in _ID_KEYS and hex_ids else fix(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [fix(item) for item in node]
        return node

    return json.dumps(fix(json_format.MessageToDict(request))).encode()


def map_both(request: ExportTraceServiceRequest, received_at_ms: int, limits: EventLimits) -> MappingResult:
    """``request`` mapped from protobuf and from OTLP/JSON (ids in hex and in base64): the same result, returned."""
    result = map_spans(decode_spans("protobuf", request.SerializeToString()), received_at_ms, limits)
    for hex_ids in (True, False):
        from_json = map_spans(decode_spans("json", otlp_json(request, hex_ids)), received_at_ms, limits)
        assert from_json == result, f"OTLP/JSON (hex ids: {hex_ids}) maps differently from protobuf"
    return result


def fields(envelope: Envelope) -> dict[str, Any]:
    """An envelope's row as column → value."""
    return dict(zip(COLUMNS[envelope.kind], envelope.values, strict=True))


def recorded(name: str, signal: str) -> Any:
    """A recorded export request of tests/fixtures/otlp/, decoded."""
    with open(f"tests/fixtures/otlp/{name}", "rb") as body:
        return decode_request(signal, "protobuf", body.read())  # type: ignore[arg-type]
