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
from collections.abc import Callable

from openclaw_trace.api import otlp
from openclaw_trace.api.context import AppContext, Handler
from openclaw_trace.api.http import (
    HttpError,
    PreparedResponse,
    Receive,
    Scope,
    Send,
    check_declared_length,
    decompress,
    read_rest,
    request_head,
    send_bytes,
    whole_body,
)
from openclaw_trace.model import BadEvent, Envelope, EventLimits, decode_errors, decode_traces
from openclaw_trace.otlp.decode import looks_like_otlp_json

Decoder = Callable[[bytes, int, EventLimits], list[Envelope]]

JSON_TYPES = (b"", b"application/json", b"text/json")
_ACCEPTED_ONE = PreparedResponse(202, b'{"received":1,"queued":1,"dropped":0}')  # the answer to nearly every request


def ingest_handler(decode: Decoder, otlp_signal: otlp.Signal | None) -> Handler:
    """The POST handler of one native endpoint; ``otlp_signal`` when OTLP shares its path."""

    async def handle(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
        head = request_head(scope)
        is_protobuf = head.media_type in otlp.PROTOBUF_TYPES
        if head.media_type not in JSON_TYPES and not (otlp_signal and is_protobuf):
            accepted = "application/json or application/x-protobuf" if otlp_signal else "application/json"
            raise HttpError(415, f"unsupported Content-Type {head.media_type.decode('latin-1')!r}: send {accepted}")
        max_bytes = ctx.config.max_body_bytes
        # read_body, unrolled: the common whole body costs no coroutine of its own.
        check_declared_length(head.content_length, max_bytes)
        first = await receive()
        body = whole_body(first, max_bytes)
        if body is None:
            body = await read_rest(first, receive, max_bytes)
        if head.content_encoding:
            body = decompress(body, head.content_encoding, max_bytes)
        if otlp_signal and is_protobuf:
            await otlp.export(ctx, otlp_signal, "protobuf", body, send)
            return
        received_at_ms = time.time_ns() // 1_000_000
        try:
            envelopes = decode(body, received_at_ms, ctx.limits)
        except BadEvent as exc:
            if otlp_signal and looks_like_otlp_json(otlp_signal, body):
                await otlp.export(ctx, otlp_signal, "json", body, send)
                return
            raise HttpError(400, str(exc)) from None
        received = len(envelopes)
        queued = ctx.queue.offer_many(envelopes)
        if received == queued == 1:
            await send(_ACCEPTED_ONE.start)
            await send(_ACCEPTED_ONE.body)
            return
        answer = b'{"received":%d,"queued":%d,"dropped":%d}' % (received, queued, received - queued)
        await send_bytes(send, 202, answer)

    return handle


post_traces = ingest_handler(decode_traces, "traces")
post_errors = ingest_handler(decode_errors, None)
