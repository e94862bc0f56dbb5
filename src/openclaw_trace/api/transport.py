"""One ``send`` per response instead of two, for uvicorn's httptools protocol.

uvicorn writes a response's status line and headers when the app sends
``http.response.start`` and the body on ``http.response.body``: two socket
writes. On loopback each write runs the receiver's TCP path inline, and the
two together were half of the event loop's time per 202 (py-spy, flat out).
``CoalescingTransport`` keeps the writes of one loop iteration and hands them
to the real transport as one at the end of it (``call_soon``); the bytes and
their order are unchanged. Measured: +5–14 % requests/s in paired runs
(docs/benchmarks.md).

That one write is an ``os.write`` on the socket when the transport has
nothing buffered: uvloop makes its send with the GIL held, and on loopback
the send (the receiver's TCP path included) was a third of the event loop's
GIL time at 20,000 requests/s (py-spy); ``os.write`` releases the GIL, so
the writer thread binds its rows meanwhile instead of after. Whatever the
socket does not take, and every error, goes to the transport's own
``write``, which buffers the rest or reports the broken connection as
before. Measured: flat-out persisted +7 % (median of 3 pairs) in
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Wraps a transport: ``write`` collects until the loop's next turn; the rest passes through.

    ``close`` sends what is collected first, so nothing written before a
    close is lost; after the connection is gone the collected bytes are
    dropped, as the real transport would drop them.
    """

    __slots__ = ("_fd", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        # -1: always through the transport (no socket; TLS, whose bytes are not the
        # socket's; or not POSIX, where a socket is no file descriptor for os.write).
        sock = transport.get_extra_info("socket")
        plain = sock is not None and transport.get_extra_info("sslcontext") is None and os.name == "posix"
        self._fd: int = sock.fileno() if plain else -1

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        transport = self._transport
        if transport.is_closing():  # also true once the connection is lost: the fd may be reused
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        if self._fd >= 0 and not transport.get_write_buffer_size():
            try:
                sent = os.write(self._fd, data)
            except OSError:  # EAGAIN, EPIPE, ECONNRESET …: the transport's write tells it its way
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        # Asked once per response: spelled out, since __getattr__ runs only after a failed lookup.
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Duck-typed: uvicorn only writes, closes and asks for extra info.
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
