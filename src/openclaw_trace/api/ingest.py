"""``POST /v1/traces`` and ``POST /v1/errors``: validate, offer, answer 202.

The handler never touches SQLite and never waits: valid events are offered
to the bounded queue and the answer is 202 whether they were queued or
dropped (fire-and-forget, as the seeds decide). The body says how many of
each, so a client that cares can count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from openclaw_trace.api.context import AppContext
from openclaw_trace.api.http import HttpError, Receive, Scope, Send, header, read_body, send_json
from openclaw_trace.model import BadEvent, Envelope, decode_errors, decode_traces

Decoder = Callable[[bytes, int, int], list[Envelope]]

_JSON_TYPES = (b"application/json", b"text/json")


def check_json_request(scope: Scope) -> None:
    """Refuse bodies we would misread: other content types (415) and encodings (415)."""
    content_type = header(scope, b"content-type")
    if content_type is not None:
        media_type = content_type.split(b";", 1)[0].strip().lower()
        if media_type and media_type not in _JSON_TYPES:
            raise HttpError(
                415,
                f"unsupported Content-Type {media_type.decode('latin-1')!r}: send application/json",
            )
    encoding = header(scope, b"content-encoding")
    if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
        raise HttpError(415, f"unsupported Content-Encoding {encoding.decode('latin-1')!r}")


async def ingest(ctx: AppContext, decode: Decoder, scope: Scope, receive: Receive, send: Send) -> None:
    check_json_request(scope)
    body = await read_body(scope, receive, ctx.config.max_body_bytes)
    received_at_ms = time.time_ns() // 1_000_000
    try:
        envelopes = decode(body, received_at_ms, ctx.config.max_text_bytes)
    except BadEvent as exc:
        raise HttpError(400, str(exc)) from None
    queued = ctx.queue.offer_many(envelopes)
    await send_json(
        send,
        202,
        {"received": len(envelopes), "queued": queued, "dropped": len(envelopes) - queued},
    )


async def post_traces(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    await ingest(ctx, decode_traces, scope, receive, send)


async def post_errors(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    await ingest(ctx, decode_errors, scope, receive, send)
