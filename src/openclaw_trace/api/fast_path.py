"""The POST endpoints answered inside the protocol, without an ASGI cycle.

For each request uvicorn builds a ``RequestResponseCycle`` with an
``asyncio.Event``, starts a task for the app, and passes the body and the
answer through ``receive``/``send`` awaitables. Our POST endpoints need none
of that: once the body is in, their answer is computed without waiting for
anything (``BodyRoute``). Measured on the reference handler, one core, flat
out, that machinery was about 40 % of the time of a request
(docs/benchmarks.md).

So, when a request's headers are in and the app's ``fast_route`` takes it,
this protocol keeps its body itself and, when the body is complete, writes
the answer the route returns, in the same loop iteration. Everything else,
and every request the fast path might answer differently from the ASGI
app, goes uvicorn's way:

- anything the app's ``fast_route`` refuses: other paths and methods, a
  request that fails its header checks or the token (the ASGI app then
  gives the 4xx it always gives);
- ``Expect: 100-continue``, an upgrade, HTTP/1.0;
- a chunked body: only a declared Content-Length, which the app's checks
  hold to the body limit, bounds what this protocol keeps (the ASGI path
  counts a chunked body while it arrives);
- a request behind an answer still owed on the connection (pipelining
  behind a ``GET``), so answers keep their order;
- a connection whose client does not read its answers (writing paused),
  so the ASGI path's wait for the socket to drain holds it back.

Connection handling stays uvicorn's: keep-alive and its timer, ``connection:
close``, the request counter, a graceful shutdown that lets a request being
read finish. The deadline sweep (``api/deadlines.py``, a subclass) sees a
fast request being read as one whose answer is not owed yet, so a late one
gets its 408, and knows a request answered here by ``answered_scope``; it
also keeps the keep-alive limit after a fast answer, in place of uvicorn's
per-response timer (``_after_fast_answer``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import httptools
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from openclaw_trace.api.http import Headers, Receive, Response, Scope, Send, send_response
from openclaw_trace.api.transport import CoalescingHttpToolsProtocol

# A whole body → its response, or an awaitable of it (answered through a uvicorn
# cycle, ``_answer_later``); neither raises.
Answer = Callable[[bytes], Response | Awaitable[Response]]


@runtime_checkable
class FastRoutes(Protocol):
    """What an app offers the fast path."""

    def fast_route(self, method: bytes, path: bytes, headers: Headers) -> Answer | None:
        """How to answer this request from its body, or None to send it the ASGI way.

        Take only a request whose declared Content-Length (or none: no body)
        is within the body limit: the protocol keeps the whole body.
        """


class FastPathHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """``CoalescingHttpToolsProtocol`` that answers what the app's ``fast_route`` takes itself."""

    # uvicorn gives each request a new scope at its first byte; this is the one of
    # the last request answered here, as ``cycle.scope`` is for one answered by a cycle.
    answered_scope: object = None
    _routes: FastRoutes | None = None
    _answer: Answer | None = None  # set while a fast request's body is read
    _chunks: list[bytes]
    _keep_alive: bool

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.config.app
        # A concurrency limit is answered 503 by uvicorn's cycle; keep it that way.
        if isinstance(app, FastRoutes) and self.limit_concurrency is None:
            self._routes = app

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A fast answer arms the keep-alive timer, and a request pipelined behind it
        # came in the same data, so data_received will not disarm it: this request
        # does. (Armed means "quiet since an answer" to the deadline sweep too.)
        self._unset_keepalive_if_required()

    def on_headers_complete(self) -> None:
        answer = self._fast_answer()
        if answer is None:
            super().on_headers_complete()
            return
        self._answer = answer
        self._chunks = []
        self._keep_alive = self.parser.should_keep_alive()

    def _fast_answer(self) -> Answer | None:
        routes = self._routes
        if routes is None or self.expect_100_continue or self.flow.write_paused:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # an earlier answer is still owed (and any pipelined behind it)
        parser = self.parser
        if parser.get_http_version() != "1.1" or parser.should_upgrade():
            return None
        headers = self.headers
        for name, _ in headers:
            if name == b"transfer-encoding":
                return None
        return routes.fast_route(parser.get_method(), self.url, headers)

    def on_body(self, body: bytes) -> None:
        if self._answer is None:
            super().on_body(body)
        else:
            # Bounded: no Transfer-Encoding, so the body is the declared Content-Length
            # (the app refuses one over its limit) or nothing; httptools delivers no more.
            self._chunks.append(body)

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is None:
            super().on_message_complete()
            return
        self._answer = None
        chunks = self._chunks
        self._chunks = []
        response = answer(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if not isinstance(response, Response):
            self._answer_later(response)
            return
        self.answered_scope = self.scope
        self.transport.write(response.wire(self._keep_alive, self.server_state.default_headers))
        if not self._keep_alive:
            self.transport.close()
        self._after_fast_answer()

    def _answer_later(self, pending: Awaitable[Response]) -> None:
        """Hand an answer that must be awaited to a uvicorn cycle, as if the request had come the ASGI way.

        From here uvicorn's own rules hold: a request behind it on the
        connection waits in the pipeline (the fast path declines it while
        this cycle is owed), and the cycle writes the answer, keeps the
        connection alive or closes it, and starts the next request.
        """
        parser = self.parser
        self.scope["method"] = parser.get_method().decode("ascii")
        url = httptools.parse_url(self.url)  # what uvicorn's access log reads (the path is one of our routes)
        self.scope["raw_path"] = url.path
        self.scope["path"] = url.path.decode("ascii")
        self.scope["query_string"] = url.query or b""
        cycle = RequestResponseCycle(
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=self._keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.more_body = False  # the body is in: the app never asks for it
        self.cycle = cycle

        async def send_when_ready(scope: Scope, receive: Receive, send: Send) -> None:
            await send_response(send, await pending)

        task = self.loop.create_task(cycle.run_asgi(send_when_ready))  # type: ignore[arg-type]  # ASGI typing
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _after_fast_answer(self) -> None:
        """What uvicorn does once a response is out: count it, resume reading, arm the keep-alive timer."""
        self.on_response_complete()

    def shutdown(self) -> None:
        if self._answer is not None:
            self._keep_alive = False  # answer the request being read, then close
            return
        super().shutdown()
