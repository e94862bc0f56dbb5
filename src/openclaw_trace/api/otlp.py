"""OTLP/HTTP export endpoints: ``/v1/traces`` (shared), ``/v1/metrics``, ``/v1/logs``.

Answers follow the OTLP/HTTP specification rather than our 202 contract,
because OTLP exporters keep their own retry queue: 200 with an export
response in the request's encoding (``partial_success`` when some items
were rejected), 400 for a body that does not decode, 415 for other content
types, and 503 with ``Retry-After`` when our queue cannot take the whole
request — the exporter then retries later instead of losing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

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
from openclaw_trace.otlp.decode import Encoding, OtlpDecodeError, encode_response
from openclaw_trace.otlp.decoder import DecoderUnavailable, OtlpDecoder
from openclaw_trace.otlp.requests import Signal, map_request
from openclaw_trace.otlp.values import MappingResult

PROTOBUF_TYPES = (b"application/x-protobuf", b"application/protobuf")
JSON_TYPES = (b"application/json", b"text/json")
RETRY_AFTER_S = 2
QUEUE_WAIT_S = 0.1  # how long a decoded request waits for room in a full queue before its 503
QUEUE_POLL_S = 0.005
_CONTENT_TYPES = {"protobuf": b"application/x-protobuf", "json": b"application/json"}


def export(ctx: AppContext, signal: Signal, encoding: Encoding, body: bytes) -> Response | Awaitable[Response]:
    """Decode, map and queue one export request; answer as OTLP/HTTP says.

    With the daemon's decoder process (``ctx.otlp_decoder``) running, the
    answer is awaited: the loop serves other requests while the child
    decodes. Until it runs (and without one) the work is done here.
    """
    received_at_ms = time.time_ns() // 1_000_000
    decoder = ctx.otlp_decoder
    if decoder is not None:
        if decoder.running:
            return _export_in_decoder(ctx, decoder, signal, encoding, body, received_at_ms)
        # Starting takes ~0.1 s (a Python process's imports): the requests meanwhile, and
        # while it is started again after a death, are decoded here rather than wait.
        decoder.start_soon()
    try:
        result = map_request(signal, encoding, body, received_at_ms, ctx.limits)
    except OtlpDecodeError as exc:
        raise _undecodable(ctx, signal, exc) from None
    return _queue(ctx, signal, encoding, result)


async def _export_in_decoder(
    ctx: AppContext, decoder: OtlpDecoder, signal: Signal, encoding: Encoding, body: bytes, received_at_ms: int
) -> Response:
    try:
        result = await decoder.map(signal, encoding, body, received_at_ms)
    except OtlpDecodeError as exc:
        raise _undecodable(ctx, signal, exc) from None
    except DecoderUnavailable as exc:
        ctx.stats.count(f"otlp.{signal}.refused_requests")
        raise _retry_later(str(exc)) from None
    answer = _queue(ctx, signal, encoding, result)
    return answer if isinstance(answer, Response) else await answer


def _queue(
    ctx: AppContext, signal: Signal, encoding: Encoding, result: MappingResult
) -> Response | Awaitable[Response]:
    _check_fits(ctx, signal, result)
    if ctx.queue.offer_all(result.envelopes):
        return _accepted(ctx, signal, encoding, result)
    return _accepted_once_room(ctx, signal, encoding, result)


async def _accepted_once_room(ctx: AppContext, signal: Signal, encoding: Encoding, result: MappingResult) -> Response:
    """Queue the request's events once there is room; 503 when there is none within ``QUEUE_WAIT_S``.

    A full queue is often a moment's (a burst, a checkpoint): the request waits
    for room a little, without holding the loop, rather than be refused, sent
    again by its exporter and decoded twice.
    """
    ctx.stats.count(f"otlp.{signal}.waited_for_room")
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + QUEUE_WAIT_S
    while loop.time() < give_up_at:
        await asyncio.sleep(QUEUE_POLL_S)
        if ctx.queue.offer_all(result.envelopes):
            return _accepted(ctx, signal, encoding, result)
    ctx.stats.count(f"otlp.{signal}.refused_requests")
    raise _retry_later("queue full: retry later")


def _undecodable(ctx: AppContext, signal: Signal, exc: OtlpDecodeError) -> HttpError:
    ctx.stats.count(f"otlp.{signal}.undecodable")
    return HttpError(400, str(exc))


def _retry_later(message: str) -> HttpError:
    return HttpError(503, message, [(b"retry-after", str(RETRY_AFTER_S).encode())])


def _check_fits(ctx: AppContext, signal: Signal, result: MappingResult) -> None:
    if len(result.envelopes) > ctx.queue.capacity:
        # It could never fit: a 503 would have the exporter retry it forever.
        ctx.stats.count(f"otlp.{signal}.too_large_requests")
        raise HttpError(
            413,
            f"request maps to {len(result.envelopes)} items; send at most {ctx.queue.capacity} per request",
        )


def _accepted(ctx: AppContext, signal: Signal, encoding: Encoding, result: MappingResult) -> Response:
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

    def answer(ctx: AppContext, head: RequestHead, body: bytes) -> Response | Awaitable[Response]:
        body = decompress(body, head.content_encoding, ctx.config.max_body_bytes)
        return export(ctx, signal, _encoding(head), body)

    return BodyRoute(check, answer)


post_metrics = otlp_only_route("metrics")
post_logs = otlp_only_route("logs")
