"""Time limits for slow clients: a request must arrive whole in time, a silent connection is closed.

uvicorn closes a keep-alive connection that stays quiet after a response,
but it sets no limit on a connection that never sends anything, nor on a
request whose headers or body trickle in a byte at a time (blank lines
included, which the parser skips without starting a request): each such
connection would hold a descriptor and a parser for as long as its client
likes. Here:

- a connection that has sent nothing ``idle_timeout_s`` after it was
  opened is closed, as uvicorn closes one that is quiet after a response;
- bytes that have not made a whole request ``request_timeout_s`` after the
  first of them get ``408`` and the connection is closed. The 408 is left
  out while an earlier response is still owed, so it can never land in the
  middle of one; the connection is closed all the same.

The protocol notes the clock at the first byte after each response (one
clock read per request); ``close_overdue`` finds the late ones, called by
the daemon's server once a second, so no timer is armed and cancelled per
request.
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
    """``CoalescingHttpToolsProtocol`` that notes when the bytes of the next request began to arrive.

    ``request_began`` is the loop's clock at the first byte received since
    the last response was sent (None until then). Whether those bytes have
    made a whole request is read off uvicorn's cycle when it matters. The
    silent-connection limit reuses uvicorn's own keep-alive timer, armed at
    connect as it is after every response.
    """

    request_began: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        if self.request_began is None:
            self.request_began = self.loop.time()
        super().data_received(data)

    def on_response_complete(self) -> None:
        self.request_began = None
        super().on_response_complete()

    def close_if_late(self, now: float, request_timeout_s: float) -> bool:
        """Close the connection when its request is over ``request_timeout_s`` old and not whole.

        True when that was a late request (answered 408 when no response was
        owed); False when nothing was late, including a request answered
        before its body was read (413, 401 …) whose leftover bytes are then
        only closed on.
        """
        began = self.request_began
        if began is None or now - began <= request_timeout_s or self.transport.is_closing():
            return False
        cycle = self.cycle
        # uvicorn makes a request's cycle, with its scope, once the headers are in
        # (queued in ``pipeline`` while an earlier one is answered); it clears
        # more_body when the body is in, unless the answer went first.
        own = cycle is not None and cycle.scope is self.scope
        if own:
            if cycle.response_complete:  # answered already; the rest of its body is ignored
                self.request_began = None
                self.transport.close()
                return False
            if not cycle.more_body:  # whole, and its answer is being made
                return False
        self.request_began = None
        if own:
            answering = cycle.response_started or bool(self.pipeline)
        else:
            answering = cycle is not None and not cycle.response_complete
        if not answering:
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
