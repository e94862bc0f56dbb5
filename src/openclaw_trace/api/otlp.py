"""OTLP/HTTP export endpoints: ``/v1/traces`` (shared), ``/v1/metrics``, ``/v1/logs``.

Answers follow the OTLP/HTTP specification rather than our 202 contract,
because OTLP exporters keep their own retry queue: 200 with an export
response in the request's encoding (``partial_success`` when some items
were rejected), 400 for a body that does not decode, 415 for other content
types, and 503 with ``Retry-After`` when our queue cannot take the whole
request — the exporter then retries later instead of losing it.
"""

from __future__ import annotations

import time
from typing import Literal

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from openclaw_trace.api.context import AppContext, BodyRoute
from openclaw_trace.api.http import (
    Headers,
    HttpError,
    RequestHead,
    Response,
    check_declared_length,
    decompress,
    request_head,
)
from openclaw_trace.otlp.decode import Encoding, OtlpDecodeError, decode_request, decode_spans, encode_response
from openclaw_trace.otlp.logs import map_logs
from openclaw_trace.otlp.metrics import map_metrics
from openclaw_trace.otlp.spans import map_spans
from openclaw_trace.otlp.values import MappingResult

Signal = Literal["traces", "metrics", "logs"]
PROTOBUF_TYPES = (b"application/x-protobuf", b"application/protobuf")
JSON_TYPES = (b"application/json", b"text/json")
RETRY_AFTER_S = 2
_CONTENT_TYPES = {"protobuf": b"application/x-protobuf", "json": b"application/json"}


def _decode_and_map(ctx: AppContext, signal: Signal, encoding: Encoding, body: bytes) -> MappingResult:
    """The request's events; ``OtlpDecodeError`` when the body does not decode."""
    received_at_ms = time.time_ns() // 1_000_000
    if signal == "traces":
        return map_spans(decode_spans(encoding, body), received_at_ms, ctx.limits)
    return _map(ctx, decode_request(signal, encoding, body), received_at_ms)


def _map(ctx: AppContext, request: Message, received_at_ms: int) -> MappingResult:
    if isinstance(request, ExportLogsServiceRequest):
        return map_logs(request, received_at_ms, ctx.limits)
    assert isinstance(request, ExportMetricsServiceRequest)
    return map_metrics(request, received_at_ms)


def export(ctx: AppContext, signal: Signal, encoding: Encoding, body: bytes) -> Response:
    """Decode, map and queue one export request; answer as OTLP/HTTP says."""
    try:
        result = _decode_and_map(ctx, signal, encoding, body)
    except OtlpDecodeError as exc:
        ctx.stats.count(f"otlp.{signal}.undecodable")
        raise HttpError(400, str(exc)) from None
    if len(result.envelopes) > ctx.queue.capacity:
        # It could never fit: a 503 would have the exporter retry it forever.
        ctx.stats.count(f"otlp.{signal}.too_large_requests")
        raise HttpError(
            413,
            f"request maps to {len(result.envelopes)} items; send at most {ctx.queue.capacity} per request",
        )
    if not ctx.queue.offer_all(result.envelopes):
        ctx.stats.count(f"otlp.{signal}.refused_requests")
        raise HttpError(
            503,
            "queue full: retry later",
            [(b"retry-after", str(RETRY_AFTER_S).encode())],
        )
    ctx.stats.count(f"otlp.{signal}.requests")
    if result.ignored:
        ctx.stats.count(f"otlp.{signal}.ignored", result.ignored)
    if result.rejected:
        ctx.stats.count(f"otlp.{signal}.rejected", result.rejected)
    answer = encode_response(signal, encoding, result.rejected, "; ".join(result.errors))
    return Response(200, answer, [(b"content-type", _CONTENT_TYPES[encoding])])


def _encoding(head: RequestHead) -> Encoding:
    if head.media_type in PROTOBUF_TYPES:
        return "protobuf"
    if head.media_type in JSON_TYPES:
        return "json"
    raise HttpError(
        415,
        f"unsupported Content-Type {head.media_type.decode('latin-1')!r}: "
        "send application/x-protobuf or application/json",
    )


def otlp_only_route(signal: Signal) -> BodyRoute:
    """The POST route of an OTLP-only path (``/v1/metrics``, ``/v1/logs``)."""

    def check(ctx: AppContext, headers: Headers) -> RequestHead:
        head = request_head(headers)
        _encoding(head)
        check_declared_length(head.content_length, ctx.config.max_body_bytes)
        return head

    def answer(ctx: AppContext, head: RequestHead, body: bytes) -> Response:
        body = decompress(body, head.content_encoding, ctx.config.max_body_bytes)
        return export(ctx, signal, _encoding(head), body)

    return BodyRoute(check, answer)


post_metrics = otlp_only_route("metrics")
post_logs = otlp_only_route("logs")
