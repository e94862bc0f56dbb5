"""Small ASGI building blocks: reading a bounded body, sending a response.

We stay at the raw ASGI level on the hot path: a framework's routing and
request objects cost more per request than parsing and validating the body
(see docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import zlib

import msgspec

from openclaw_trace.api.context import Message, Receive, Scope, Send

__all__ = ["Message", "Receive", "Scope", "Send"]

_encoder = msgspec.json.Encoder()
JSON_HEADERS = [(b"content-type", b"application/json")]


class HttpError(Exception):
    """An expected client error: becomes a JSON ``{"error": ...}`` response."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class ClientDisconnected(Exception):
    """The client went away before its body was read; nothing to answer."""


_DECOMPRESSORS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}


@dataclasses.dataclass(slots=True)
class RequestHead:
    """The headers a POST handler needs, read in one pass."""

    media_type: bytes  # lower-case, without parameters; b"" when absent
    content_encoding: bytes  # lower-case; b"" when absent or identity
    content_length: int | None


def request_head(scope: Scope) -> RequestHead:
    """Read Content-Type, Content-Encoding and Content-Length; 400/415 for ones we cannot use."""
    head = RequestHead(b"", b"", None)
    for name, value in scope["headers"]:
        if name == b"content-type":
            # The one value nearly every client sends needs no parsing.
            head.media_type = value if value == b"application/json" else value.split(b";", 1)[0].strip().lower()
        elif name == b"content-encoding":
            encoding = value.strip().lower()
            if encoding not in (b"", b"identity") and encoding not in _DECOMPRESSORS:
                raise HttpError(415, f"unsupported Content-Encoding {value.decode('latin-1')!r}: send gzip or none")
            head.content_encoding = b"" if encoding == b"identity" else encoding
        elif name == b"content-length":
            try:
                head.content_length = int(value)
            except ValueError:
                raise HttpError(400, "invalid Content-Length") from None
    return head


def decompress(body: bytes, encoding: bytes, max_bytes: int) -> bytes:
    """The body with its Content-Encoding undone, never more than ``max_bytes`` of output.

    The limit applies after decompression too: a small gzip bomb is refused
    with 413 after at most ``max_bytes + 1`` bytes were produced.
    """
    if not encoding:
        return body
    parts: list[bytes] = []
    total = 0
    remaining = body
    # A gzip body may hold several members back to back (RFC 1952): undo them all.
    # Parts are joined once at the end: appending to one bytes object per member
    # made 10,000 tiny members take seconds of the event loop.
    while remaining:
        decompressor = zlib.decompressobj(_DECOMPRESSORS[encoding])
        try:
            part = decompressor.decompress(remaining, max_bytes + 1 - total)
        except zlib.error as exc:
            raise HttpError(400, f"invalid {encoding.decode()} body: {exc}") from None
        total += len(part)
        parts.append(part)
        if total > max_bytes or decompressor.unconsumed_tail:
            raise HttpError(413, f"decompressed body is over the limit of {max_bytes} bytes")
        if not decompressor.eof:
            raise HttpError(400, f"truncated {encoding.decode()} body")
        remaining = decompressor.unused_data
    return b"".join(parts)


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(receive: Receive, max_bytes: int, content_length: int | None) -> bytes:
    """The whole request body, refusing more than ``max_bytes`` with 413.

    A declared ``content_length`` over the limit is refused before reading;
    a chunked body is counted while it arrives and refused as soon as it
    passes the limit, so a client cannot make us buffer more than that.
    """
    check_declared_length(content_length, max_bytes)
    first = await receive()
    body = whole_body(first, max_bytes)
    return body if body is not None else await read_rest(first, receive, max_bytes)


def check_declared_length(content_length: int | None, max_bytes: int) -> None:
    if content_length is not None and content_length > max_bytes:
        raise HttpError(413, f"body of {content_length} bytes is over the limit of {max_bytes}")


def whole_body(first: Message, max_bytes: int) -> bytes | None:
    """The body when the request's first message holds all of it (nearly always); else None.

    The hot path calls this directly instead of ``read_body``: one coroutine
    less per request.
    """
    if first["type"] != "http.request" or first.get("more_body", False):
        return None
    body: bytes = first.get("body", b"")
    if len(body) > max_bytes:
        raise HttpError(413, f"body is over the limit of {max_bytes} bytes")
    return body


async def read_rest(first: Message, receive: Receive, max_bytes: int) -> bytes:
    """The body of a request that arrives in several messages, ``first`` included."""
    chunks: list[bytes] = []
    total = 0
    message = first
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        if chunk:
            total += len(chunk)
            if total > max_bytes:
                raise HttpError(413, f"body is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class PreparedResponse:
    """A response whose bytes never change, its two ASGI messages built once.

    uvicorn copies the headers it is given and never changes the messages,
    so the same two dicts can be sent for every request: ``await
    send(prepared.start)``, then ``await send(prepared.body)``.
    """

    __slots__ = ("body", "start")

    def __init__(self, status: int, body: bytes) -> None:
        headers = [*JSON_HEADERS, (b"content-length", b"%d" % len(body))]
        self.start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        self.body: Message = {"type": "http.response.body", "body": body}


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a whole response; JSON content type unless ``headers`` say otherwise."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*(headers if headers is not None else JSON_HEADERS), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_bytes(send, status, _encoder.encode(payload), JSON_HEADERS + (headers or []))


async def send_error(send: Send, error: HttpError) -> None:
    await send_json(send, error.status, {"error": error.message}, error.headers)
