"""OTLP/HTTP bodies → the official protobuf request messages (or span views), and responses back.

Protobuf bodies are parsed with the ``opentelemetry-proto`` classes. Trace
requests in OTLP/JSON are decoded by ``json_traces`` into the same span
views as protobuf ones (``decode_spans``). Other OTLP JSON, and trace JSON
written with the proto field names (``resource_spans``), is parsed with
protobuf's JSON mapping after one fix-up: the OTLP/JSON spec writes trace
and span ids as hex, where the generic mapping expects base64. Ids already
in base64 (as protobuf's own JSON printer writes them) are left alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Literal

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from openclaw_trace.otlp.json_traces import OtlpJsonError, decode_json_traces
from openclaw_trace.otlp.views import ResourceSpans, spans_of_protobuf

Signal = Literal["traces", "metrics", "logs"]
Encoding = Literal["protobuf", "json"]

REQUESTS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
_RESPONSES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}
_REJECTED_FIELD = {"traces": "rejected_spans", "metrics": "rejected_data_points", "logs": "rejected_log_records"}
# The top-level key that tells an OTLP JSON body from a native event.
JSON_ROOT_KEYS = {
    "traces": ("resourceSpans", "resource_spans"),
    "metrics": ("resourceMetrics", "resource_metrics"),
    "logs": ("resourceLogs", "resource_logs"),
}
# The body's first key is the signal's root key (whitespace allowed where JSON allows it).
_FIRST_KEY = {
    signal: re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"(?:' + b"|".join(key.encode() for key in keys) + rb')"[ \t\r\n]*:')
    for signal, keys in JSON_ROOT_KEYS.items()
}
# A JSON object's keys, its values left unparsed (a 50-span request: json.loads took as long as its decode).
_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class OtlpDecodeError(ValueError):
    """The body is not a valid export request of its signal; ``str()`` says why."""


def looks_like_otlp_json(signal: Signal, body: bytes) -> bool:
    """The body is a JSON object with the signal's root key (``resourceSpans`` …) at its top.

    Asked only of bodies our native decoder refused. The key must be at the
    top level: a native event that merely mentions ``resource_spans`` in a
    text or in its metadata keeps its own 400 instead of becoming an empty
    OTLP export answered 200 (found by tests/api/test_fuzz.py).
    """
    keys = JSON_ROOT_KEYS[signal]
    if not any(b'"' + key.encode() + b'"' in body for key in keys):
        return False  # the common case, without a parse
    if _FIRST_KEY[signal].match(body):
        return True  # as every exporter writes it: the root key first, told without a scan of the body
    try:
        top = _TOP_LEVEL.decode(body)
    except (msgspec.DecodeError, RecursionError):  # not JSON, or not an object
        return False
    return any(key in top for key in keys)


def decode_spans(encoding: Encoding, body: bytes) -> list[ResourceSpans]:
    """A trace export request's spans, by resource and scope, in either encoding."""
    if encoding == "json":
        try:
            spans = decode_json_traces(body)
        except (msgspec.DecodeError, OtlpJsonError, RecursionError) as exc:
            raise OtlpDecodeError(f"invalid OTLP JSON: {str(exc)[:300]}") from None
        # Written with the proto field names, the request's root key is not ``resourceSpans``:
        # such bodies (one producer writes the one or the other throughout) take the generic mapping.
        if spans or b'"resource_spans"' not in body:
            return spans
    request = decode_request("traces", encoding, body)
    assert isinstance(request, ExportTraceServiceRequest)
    return spans_of_protobuf(request)


def decode_request(signal: Signal, encoding: Encoding, body: bytes) -> Message:
    request = REQUESTS[signal]()
    if encoding == "protobuf":
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise OtlpDecodeError(f"invalid OTLP protobuf: {exc}") from None
        return request
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OtlpDecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError("OTLP JSON must be an object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(data), request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise OtlpDecodeError(f"invalid OTLP JSON: {str(exc)[:300]}") from None
    return request


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _id_to_base64(value) if key in _ID_KEYS else _hex_ids_to_base64(value) for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _id_to_base64(value: Any) -> Any:
    if isinstance(value, str) and len(value) in (16, 32) and set(value) <= _HEX_DIGITS:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode("ascii")
        except (ValueError, binascii.Error):
            return value
    return value


def encode_response(signal: Signal, encoding: Encoding, rejected: int, message: str) -> bytes:
    """An export response in the request's encoding, with ``partial_success`` when rejected > 0."""
    response = _RESPONSES[signal]()
    if rejected:
        partial = response.partial_success  # type: ignore[attr-defined]
        setattr(partial, _REJECTED_FIELD[signal], rejected)
        partial.error_message = message
    if encoding == "protobuf":
        return bytes(response.SerializeToString())
    return str(json_format.MessageToJson(response, indent=None)).encode()
