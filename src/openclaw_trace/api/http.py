"""Small HTTP building blocks: reading a bounded body, a response as ASGI messages or bytes.

We stay at the raw ASGI level or below on the hot path: a framework's
routing and request objects cost more per request than parsing and
validating the body (see docs/benchmarks.md).
"""

from __future__ import annotations

import http
import zlib
from collections.abc import Iterable

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


class RequestHead(msgspec.Struct, gc=False):
    """The headers a POST handler needs, read in one pass.

    A msgspec Struct for its constructor in C: one is built per request.
    """

    media_type: bytes  # lower-case, without parameters; b"" when absent
    content_encoding: bytes  # lower-case; b"" when absent or identity
    content_length: int | None


Headers = Iterable[tuple[bytes, bytes]]  # names in lower case, as uvicorn gives them


def request_head(headers: Headers) -> RequestHead:
    """Read Content-Type, Content-Encoding and Content-Length; 400/415 for ones we cannot use."""
    # Once per request: bytes ``==`` compares lengths first, so a header we do not
    # read (a client sends several) fails each test at once, cheaper than hashing
    # its fresh name for a set lookup; the values stay in locals until the end.
    media_type = content_encoding = b""
    content_length = None
    for name, value in headers:
        if name == b"content-type":
            # The one value nearly every client sends needs no parsing.
            media_type = value if value == b"application/json" else value.split(b";", 1)[0].strip().lower()
        elif name == b"content-length":
            try:
                content_length = int(value)
            except ValueError:
                raise HttpError(400, "invalid Content-Length") from None
        elif name == b"content-encoding":
            encoding = value.strip().lower()
            if encoding not in (b"", b"identity") and encoding not in _DECOMPRESSORS:
                raise HttpError(415, f"unsupported Content-Encoding {value.decode('latin-1')!r}: send gzip or none")
            content_encoding = b"" if encoding == b"identity" else encoding
    return RequestHead(media_type, content_encoding, content_length)


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


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in headers:
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
    return await read_rest(await receive(), receive, max_bytes)


def check_declared_length(content_length: int | None, max_bytes: int) -> None:
    if content_length is not None and content_length > max_bytes:
        raise HttpError(413, f"body of {content_length} bytes is over the limit of {max_bytes}")


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


class Response:
    """A whole response: status, body and headers (``content-length`` is added).

    Sent as two ASGI messages (``send_response``) or written as bytes by the
    protocol's fast path (``wire``). A response kept in a module constant
    builds its messages and its keep-alive bytes once.
    """

    __slots__ = ("_messages", "_wire", "body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = [*(headers if headers is not None else JSON_HEADERS), (b"content-length", b"%d" % len(body))]
        self._messages: tuple[Message, Message] | None = None
        self._wire: bytes | None = None

    def messages(self) -> tuple[Message, Message]:
        """``http.response.start`` and ``http.response.body``; uvicorn copies them and never changes them."""
        if self._messages is None:
            start: Message = {"type": "http.response.start", "status": self.status, "headers": self.headers}
            self._messages = (start, {"type": "http.response.body", "body": self.body})
        return self._messages

    def wire(self, keep_alive: bool, extra_headers: list[tuple[bytes, bytes]]) -> bytes:
        """The response as HTTP/1.1 bytes; ``connection: close`` when the connection ends after it."""
        if keep_alive and not extra_headers and self._wire is not None:
            return self._wire
        phrase = http.HTTPStatus(self.status).phrase.encode()
        lines = [b"HTTP/1.1 %d %s\r\n" % (self.status, phrase)]
        lines.extend(b"%s: %s\r\n" % pair for pair in (*extra_headers, *self.headers))
        if not keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        lines.append(self.body)
        data = b"".join(lines)
        if keep_alive and not extra_headers:
            self._wire = data
        return data


async def send_response(send: Send, response: Response) -> None:
    start, body = response.messages()
    await send(start)
    await send(body)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a whole response; JSON content type unless ``headers`` say otherwise."""
    await send_response(send, Response(status, body, headers))


async def send_json(send: Send, status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_bytes(send, status, _encoder.encode(payload), JSON_HEADERS + (headers or []))


def error_response(error: HttpError) -> Response:
    return Response(error.status, _encoder.encode({"error": error.message}), JSON_HEADERS + error.headers)


async def send_error(send: Send, error: HttpError) -> None:
    await send_response(send, error_response(error))
