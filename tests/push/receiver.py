"""A real push receiver for tests: a local HTTP server that records every request and follows a script.

Each request takes the next step of the script (then the default, 200):
an ``int`` status, or a ``Step`` with a status, headers, a delay before
answering, or ``hang_up`` (read the whole body, then close without an
answer). Every request is recorded before it is answered — headers, path,
the body decompressed, and the monotonic time it arrived — so tests assert
on what was sent and when, never on how long something took.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import http.server
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Step:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    hang_up: bool = False
    refuse_gzip: bool = False  # answer 415 to a gzipped body


@dataclasses.dataclass(frozen=True)
class Recorded:
    at: float  # time.monotonic() when the body had been read
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: bytes  # decompressed
    status: int | None  # what was answered (None: hung up)
    observed: Any = None  # what the on_request hook returned

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """``with Receiver() as r``: serving on 127.0.0.1:<free port> until the block ends."""

    def __init__(
        self,
        script: Iterable[int | Step] = (),
        default: int | Step = 200,
        on_request: Callable[[], Any] | None = None,
        port: int = 0,
    ) -> None:
        self._script: deque[int | Step] = deque(script)
        self._default = default
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self.records: list[Recorded] = []
        self.on_request = on_request
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="test-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *steps: int | Step) -> None:
        with self._lock:
            self._script.extend(steps)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Recorded]:
        """Block until ``count`` requests were recorded; all records so far."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.records) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.records)} requests, expected {count}")
                self._changed.wait(left)
            return list(self.records)

    def _next(self) -> Step:
        with self._lock:
            step = self._script.popleft() if self._script else self._default
        return step if isinstance(step, Step) else Step(status=step)

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        gzipped = headers.get("content-encoding") == "gzip"
        step = self._next()
        status: int | None = 415 if step.refuse_gzip and gzipped else step.status
        if step.hang_up:
            status = None
        body = gzip.decompress(raw) if gzipped else raw
        observed = self.on_request() if self.on_request else None
        with self._changed:
            self.records.append(
                Recorded(time.monotonic(), handler.command, handler.path, headers, raw, body, status, observed)
            )
            self._changed.notify_all()
        if step.delay_s:
            self._stopping.wait(step.delay_s)
        if status is None:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.send_response(status)
        for name, value in step.headers:
            handler.send_header(name, value)
        answer = b"{}" if status < 300 else b'{"error":"scripted"}'
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        with contextlib.suppress(OSError):  # the client gave up waiting (slow step): nothing to answer
            handler.wfile.write(answer)


def closed_port_url() -> str:
    """An address where nothing listens (a receiver that is down)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
