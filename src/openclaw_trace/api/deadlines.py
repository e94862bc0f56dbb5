"""Time limits for slow clients: a request must arrive whole in time, a silent connection is closed.

uvicorn closes a keep-alive connection that stays quiet after a response,
but it sets no limit on a connection that never sends anything, nor on a
request whose headers or body trickle in a byte at a time (blank lines
included, which the parser skips without starting a request): each such
connection would hold a descriptor and a parser for as long as its client
likes. Here:

- a connection that has sent nothing ``idle_timeout_s`` after it was
  opened is closed, as uvicorn closes one that is quiet after a response;
- a connection found waiting for the rest of a request, with no progress
  for ``request_timeout_s``, gets ``408`` and is closed. The 408 is left out
  while an earlier response is still owed, so it can never land in the
  middle of one; the connection is closed all the same;
- so is one whose client stops reading: its answer cannot go out, and
  uvicorn stops reading its later requests meanwhile. (Every answer the
  daemon gives is made at once, so an answer still unsent after the
  deadline means nobody reads it; an endpoint that streams or long-polls
  would need an exemption here.)
- a connection quiet since an answer given on the fast path is closed once
  it has been quiet for ``idle_timeout_s`` (uvicorn's keep-alive limit),
  give or take one sweep. uvicorn would arm a timer after every response
  and cancel it at the next request's first byte; for the fast path's
  answers the sweep keeps the limit instead: creating and cancelling that
  timer took ~15 % of the minimal handler's requests per second, flat out
  (docs/benchmarks.md). Answers given the ASGI way keep uvicorn's timer.

Nothing runs per request: ``close_overdue``, called by the daemon's server
once a second, reads each connection's state off uvicorn's protocol and
remembers where it found a waiting one. A request that progressed between
two looks (a new cycle or a new request begun) starts its clock again, so a
busy connection caught mid-request at every look is never late.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterable

from openclaw_trace.api.fast_path import FastPathHttpToolsProtocol

# Why close_if_late closed a connection; the daemon counts them under these names.
LATE_REQUEST = "late_requests"
STALLED_RESPONSE = "stalled_responses"

_408 = b'{"error":"the request did not arrive whole in time"}'
RESPONSE_408 = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_408)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _408
)


@dataclasses.dataclass(frozen=True)
class _Waiting:
    """Where a sweep found a connection in the middle of a request: its cycle and scope then, and when."""

    cycle: object
    scope: object
    since: float


class DeadlineHttpToolsProtocol(FastPathHttpToolsProtocol):
    """``FastPathHttpToolsProtocol`` with the silent-connection limit and the sweep's check.

    The silent-connection limit reuses uvicorn's own keep-alive timer, armed
    at connect as uvicorn arms it after every ASGI response; uvicorn cancels
    it at the first byte that arrives, so "no timer" means "bytes came in
    since the last ASGI response (or the connect), or the fast path answered
    since", the second told apart by ``_heard_since_answer``.
    """

    waiting: _Waiting | None = None
    # False from a fast answer until the next bytes arrive: quiet since that answer.
    _heard_since_answer = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        self._heard_since_answer = True
        super().data_received(data)

    def _after_fast_answer(self) -> None:
        # uvicorn's on_response_complete without arming its keep-alive timer: the sweep
        # keeps that limit (close_if_late). Nothing waits in the pipeline here: the fast
        # path answers only when no earlier answer is owed.
        self.server_state.total_requests += 1
        self._heard_since_answer = False
        if not self.transport.is_closing():
            self.flow.resume_reading()

    def close_if_late(self, now: float, request_timeout_s: float) -> str | None:
        """One sweep's look: close the connection if it has made no progress for too long.

        Returns why it was closed: ``LATE_REQUEST`` (answered 408 when no
        response was owed) or ``STALLED_RESPONSE`` (a whole request whose
        answer the client does not read). None otherwise, including a request
        answered before its body was read (413, 401 …) whose leftover bytes
        stall, and a connection quiet for ``timeout_keep_alive`` since a fast
        answer: those are closed quietly, as uvicorn's timer closes the rest.
        """
        if self.transport.is_closing() or self.timeout_keep_alive_task is not None:
            self.waiting = None  # closing, or quiet since a response: uvicorn's timer has it
            return None
        cycle, scope = self.cycle, self.scope
        seen = self.waiting
        if seen is None or seen.cycle is not cycle or seen.scope is not scope:
            self.waiting = _Waiting(cycle, scope, now)  # new, or progressed since the last look
            return None
        answered_here = scope is not None and scope is self.answered_scope
        if answered_here and not self._heard_since_answer:  # kept alive and quiet since a fast answer
            if now - seen.since >= self.timeout_keep_alive:  # first seen quiet up to a sweep after the answer
                self.waiting = None
                self.transport.close()
            return None
        if now - seen.since <= request_timeout_s:
            return None
        self.waiting = None
        if answered_here:  # answered on the fast path; blank lines since
            self.transport.close()
            return None
        # uvicorn makes a request's cycle, with its scope, once the headers are in
        # (queued in ``pipeline`` while an earlier one is answered); it clears
        # more_body when the body is in, unless the answer went first.
        own = cycle is not None and cycle.scope is scope
        if own and cycle.response_complete:  # answered already; the rest of its body is ignored
            self.transport.close()
            return None
        if own and not cycle.more_body:  # whole, and its answer has not gone out: nobody reads it
            self.transport.close()
            return STALLED_RESPONSE
        if own:
            answering = cycle.response_started or bool(self.pipeline)
        else:
            answering = cycle is not None and not cycle.response_complete
        if not answering:
            # Straight to the transport: the app may still be waiting for the body,
            # and sees a disconnect once the connection is gone.
            self.transport.write(RESPONSE_408)
        self.transport.close()
        return LATE_REQUEST


def close_overdue(connections: Iterable[object], now: float, request_timeout_s: float) -> Counter[str]:
    """Close every connection over its deadline; how many were closed, by reason."""
    closed: Counter[str] = Counter()
    for protocol in list(connections):  # closing changes the set
        if isinstance(protocol, DeadlineHttpToolsProtocol):
            reason = protocol.close_if_late(now, request_timeout_s)
            if reason is not None:
                closed[reason] += 1
    return closed
