"""Time limits for slow clients: a request must arrive whole in time, a silent connection is closed.

uvicorn closes a keep-alive connection that stays quiet after a response,
but it sets no limit on a connection that never sends anything, nor on a
request whose headers or body trickle in a byte at a time: each such
connection would hold a descriptor and a parser for as long as its client
likes. Here:

- a connection that has sent nothing ``idle_timeout_s`` after it was
  opened is closed, as uvicorn closes one that is quiet after a response;
- a request not received whole ``request_timeout_s`` after its first byte
  gets ``408`` (when no response has begun) and its connection is closed.

The protocol only notes when each request begins (one clock read per
request); ``close_overdue`` finds the late ones, called by the daemon's
server once a second, so no timer is armed and cancelled per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from openclaw_trace.api.transport import CoalescingHttpToolsProtocol

_408 = b'{"error":"the request did not arrive whole in time"}'
RESPONSE_408 = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_408)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _408
)


class DeadlineHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """``CoalescingHttpToolsProtocol`` that notes when the request being received began.

    ``request_began`` is the loop's clock at the first byte of the latest
    request (None before the first); whether that request has arrived whole
    is read off uvicorn's cycle when it matters, so a request costs one
    override, not two. The silent-connection limit reuses uvicorn's own
    keep-alive timer, armed at connect as it is after every response.
    """

    request_began: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.request_began = self.loop.time()

    def close_if_late(self, now: float, request_timeout_s: float) -> bool:
        """Answer 408 and close when the request at hand began over ``request_timeout_s`` ago."""
        began = self.request_began
        if began is None or now - began <= request_timeout_s or self.transport.is_closing():
            return False
        cycle = self.cycle
        # uvicorn makes a request's cycle, with its scope, once the headers are in,
        # and clears more_body when the body is: a whole request is not late.
        current = cycle is not None and cycle.scope is self.scope
        if current and not cycle.more_body:
            return False
        self.request_began = None
        if not current or not cycle.response_started:
            # Straight to the transport: the app may still be waiting for the body,
            # and sees a disconnect once the connection is gone.
            self.transport.write(RESPONSE_408)
        self.transport.close()
        return True


def close_overdue(connections: Iterable[object], now: float, request_timeout_s: float) -> int:
    """Close every connection whose request is over its deadline; how many were closed."""
    closed = 0
    for protocol in list(connections):  # closing changes the set
        if isinstance(protocol, DeadlineHttpToolsProtocol) and protocol.close_if_late(now, request_timeout_s):
            closed += 1
    return closed
