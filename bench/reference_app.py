"""The reference handler: the least an ingest endpoint can do on our server stack.

The body decoded with a msgspec Struct, two fields checked, the event
appended to a bounded deque of 512, answer 202 — no storage, no writer
thread, no counters. By default it runs on exactly the daemon's server
stack: uvicorn with uvloop and httptools through the daemon's protocol
(``api/deadlines.py``), which answers ``POST /v1/traces`` on its fast path
(``api/fast_path.py``) as it does for the daemon, and writes each response
once (``api/transport.py``). So ``flat-out`` / ``reference`` is the share of
that stack's throughput that our handler, queue and writer leave.

``--asgi`` serves the same handler as a raw ASGI app through the daemon's
protocol without the fast path (the ``reference-asgi`` scenario, the
daemon's stack before 2026-12-02 08:00 UTC); ``--stock-protocol`` on
uvicorn's own protocol: the stack PERFORMANCE.md measured
(``reference-stock``).

Run: ``python -m bench.reference_app --port N [--asgi | --stock-protocol]``
(127.0.0.1 only); SIGTERM stops it.
"""

from __future__ import annotations

import argparse
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import msgspec
import uvicorn

from openclaw_trace.api.deadlines import DeadlineHttpToolsProtocol
from openclaw_trace.api.http import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Event(msgspec.Struct):
    # The two fields the daemon requires; the rest of the body is skipped.
    provider: str
    model: str


_decoder = msgspec.json.Decoder(Event)
_QUEUE: deque[Event] = deque(maxlen=512)
# The same answer the daemon gives to one queued event, so both send the same bytes.
_ACCEPTED = b'{"received":1,"queued":1,"dropped":0}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_ACCEPTED)).encode())]


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":  # for the runner's readiness check only
        await _respond(send, 200, b"{}")
        return
    if scope["method"] != "POST" or scope["path"] != "/v1/traces":
        await _respond(send, 404, b'{"error":"not found"}')
        return
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    try:
        event = _decoder.decode(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    except msgspec.DecodeError:
        await _respond(send, 400, b'{"error":"bad event"}')
        return
    if not event.provider or not event.model:
        await _respond(send, 400, b'{"error":"provider and model are required"}')
        return
    _QUEUE.append(event)
    await send({"type": "http.response.start", "status": 202, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _ACCEPTED})


_ACCEPTED_RESPONSE = Response(202, _ACCEPTED)
_BAD_EVENT = Response(400, b'{"error":"bad event"}')
_MISSING = Response(400, b'{"error":"provider and model are required"}')


def answer(body: bytes) -> Response:
    """The same work as ``app``, for the protocol's fast path."""
    try:
        event = _decoder.decode(body)
    except msgspec.DecodeError:
        return _BAD_EVENT
    if not event.provider or not event.model:
        return _MISSING
    _QUEUE.append(event)
    return _ACCEPTED_RESPONSE


class FastApp:
    """``app``, with ``POST /v1/traces`` offered to the fast path as the daemon's ``App`` offers it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    def fast_route(self, method: bytes, path: bytes, headers: Iterable[tuple[bytes, bytes]]) -> Any:
        return answer if method == b"POST" and path == b"/v1/traces" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    stack = parser.add_mutually_exclusive_group()
    stack.add_argument("--asgi", action="store_true", help="raw ASGI through the daemon's protocol, no fast path")
    stack.add_argument("--stock-protocol", action="store_true", help="raw ASGI on uvicorn's own httptools protocol")
    args = parser.parse_args()
    # The daemon's uvicorn settings: httptools (through the daemon's protocol
    # class unless --stock-protocol), uvloop, no lifespan, no access log, no
    # Server/Date headers.
    protocol: Any = "httptools" if args.stock_protocol else DeadlineHttpToolsProtocol
    uvicorn.run(
        app if args.asgi or args.stock_protocol else FastApp(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http=protocol,
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
