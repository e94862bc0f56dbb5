"""``POST /v1/traces`` and ``POST /v1/errors``: validate, offer, answer 202.

The handler never touches SQLite and never waits: valid events are offered
to the bounded queue and the answer is 202 whether they were queued or
dropped (fire-and-forget, as the seeds decide). The body says how many of
each, so a client that cares can count.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from openclaw_trace.api.context import AppContext
from openclaw_trace.api.http import HttpError, Receive, Scope, Send, read_body, send_bytes
from openclaw_trace.model import BadEvent, Envelope, EventLimits, decode_errors, decode_traces

Decoder = Callable[[bytes, int, EventLimits], list[Envelope]]
Handler = Callable[[AppContext, Scope, Receive, Send], Awaitable[None]]

_JSON_TYPES = (b"application/json", b"text/json")
_ACCEPTED_ONE = b'{"received":1,"queued":1,"dropped":0}'  # the answer to nearly every request


def check_json_request(scope: Scope) -> int | None:
    """Refuse bodies we would misread (415); return the declared Content-Length, if any.

    One pass over the headers, since this runs for every event.
    """
    content_length: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            if media_type and media_type not in _JSON_TYPES:
                raise HttpError(
                    415,
                    f"unsupported Content-Type {media_type.decode('latin-1')!r}: send application/json",
                )
        elif name == b"content-encoding":
            if value.strip().lower() not in (b"", b"identity"):
                raise HttpError(415, f"unsupported Content-Encoding {value.decode('latin-1')!r}")
        elif name == b"content-length":
            try:
                content_length = int(value)
            except ValueError:
                raise HttpError(400, "invalid Content-Length") from None
    return content_length


def ingest_handler(decode: Decoder) -> Handler:
    """The POST handler for one native endpoint, decoding with ``decode``."""

    async def handle(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
        content_length = check_json_request(scope)
        body = await read_body(receive, ctx.config.max_body_bytes, content_length)
        received_at_ms = time.time_ns() // 1_000_000
        try:
            envelopes = decode(body, received_at_ms, ctx.limits)
        except BadEvent as exc:
            raise HttpError(400, str(exc)) from None
        received = len(envelopes)
        queued = ctx.queue.offer_many(envelopes)
        if received == queued == 1:
            answer = _ACCEPTED_ONE
        else:
            answer = b'{"received":%d,"queued":%d,"dropped":%d}' % (received, queued, received - queued)
        await send_bytes(send, 202, answer)

    return handle


post_traces = ingest_handler(decode_traces)
post_errors = ingest_handler(decode_errors)
