"""``POST /v1/traces`` and ``POST /v1/errors``: validate, offer, answer 202.

The handler never touches SQLite and never waits: valid events are offered
to the bounded queue and the answer is 202 whether they were queued or
dropped (fire-and-forget, as the seeds decide). The body says how many of
each, so a client that cares can count.

``/v1/traces`` is shared with OTLP: a protobuf body, or a JSON body that is
an OTLP export request rather than our event, goes to ``api.otlp``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from openclaw_trace.api import otlp
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
from openclaw_trace.model import BadEvent, Envelope, EventLimits, decode_errors, decode_traces
from openclaw_trace.otlp.decode import looks_like_otlp_json
from openclaw_trace.otlp.requests import Signal

Decoder = Callable[[bytes, int, EventLimits], list[Envelope]]

JSON_TYPES = (b"", b"application/json", b"text/json")
ACCEPTED_ONE = Response(202, b'{"received":1,"queued":1,"dropped":0}')  # the answer to nearly every request


def ingest_route(decode: Decoder, otlp_signal: Signal | None) -> BodyRoute:
    """The POST route of one native endpoint; ``otlp_signal`` when OTLP shares its path."""
    protobuf_types = frozenset(otlp.PROTOBUF_TYPES if otlp_signal else ())
    media_types = protobuf_types.union(JSON_TYPES)
    accepted = "application/json or application/x-protobuf" if otlp_signal else "application/json"

    def check(ctx: AppContext, headers: Headers) -> RequestHead:
        head = request_head(headers)
        if head.media_type not in media_types:
            raise HttpError(415, f"unsupported Content-Type {head.media_type.decode('latin-1')!r}: send {accepted}")
        length = head.content_length
        if length is not None and length > ctx.config.max_body_bytes:  # the common case without a call
            check_declared_length(length, ctx.config.max_body_bytes)
        return head

    def answer(ctx: AppContext, head: RequestHead, body: bytes) -> Response | Awaitable[Response]:
        if head.content_encoding:
            body = decompress(body, head.content_encoding, ctx.config.max_body_bytes)
        if otlp_signal and head.media_type in protobuf_types:
            return otlp.export(ctx, otlp_signal, "protobuf", body)
        received_at_ms = time.time_ns() // 1_000_000
        try:
            envelopes = decode(body, received_at_ms, ctx.limits)
        except BadEvent as exc:
            if otlp_signal and looks_like_otlp_json(otlp_signal, body):
                return otlp.export(ctx, otlp_signal, "json", body)
            raise HttpError(400, str(exc)) from None
        received = len(envelopes)
        queued = ctx.queue.offer_many(envelopes)
        if received == queued == 1:
            return ACCEPTED_ONE
        return Response(202, b'{"received":%d,"queued":%d,"dropped":%d}' % (received, queued, received - queued))

    return BodyRoute(check, answer)


post_traces = ingest_route(decode_traces, "traces")
post_errors = ingest_route(decode_errors, None)
