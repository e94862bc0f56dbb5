"""The protocol's fast path, on a real uvicorn server with a small app: what it takes, what it leaves to ASGI.

The app answers ``POST /fast`` on the fast path (its answer says "fast")
and everything through ASGI (its answer says "asgi"), so each test can see
which way a request went. The daemon's own endpoints answered both ways are
in test_fast_path_answers.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import uvicorn
import uvloop

from openclaw_trace.api.fast_path import Answer
from openclaw_trace.api.http import Response, read_body, send_bytes
from openclaw_trace.api.server import server_config


class TwoWayApp:
    """``POST /fast`` answered on the fast path, ``POST /later`` there too but awaited (0.2 s);
    the rest, and whatever the fast path declines, by ASGI."""

    def __init__(self) -> None:
        self.asgi_paths: list[str] = []
        self.slow_get = threading.Event()  # set: GET /slow answers; clear: it waits

    def fast_route(self, method: bytes, path: bytes, headers: Iterable[tuple[bytes, bytes]]) -> Answer | None:
        if method != b"POST" or path not in (b"/fast", b"/later"):
            return None
        if path == b"/later":
            return self._later
        return lambda body: Response(200, b"fast:" + body, [(b"content-type", b"text/plain")])

    @staticmethod
    async def _later(body: bytes) -> Response:
        await asyncio.sleep(0.2)
        return Response(200, b"later:" + body, [(b"content-type", b"text/plain")])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.asgi_paths.append(scope["path"])
        if scope["path"] == "/slow":
            while not self.slow_get.is_set():
                await asyncio.sleep(0.01)
        body = await read_body(receive, 1 << 20, None) if scope["method"] == "POST" else b""
        await send_bytes(send, 200, b"asgi:" + body, [(b"content-type", b"text/plain")])


class Running:
    def __init__(self, app: TwoWayApp, server: uvicorn.Server, port: int) -> None:
        self.app = app
        self.server = server
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture
def running() -> Iterator[Running]:
    app = TwoWayApp()
    app.slow_get.set()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(app, idle_timeout_s=30, timeout_graceful_shutdown=5))

    def serve() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    yield Running(app, server, sock.getsockname()[1])
    server.should_exit = True
    thread.join(10)
    sock.close()


def post(path: bytes, body: bytes, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    return b"POST %s HTTP/%s\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (path, version, len(body), extra, body)


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` whole responses (each with a Content-Length) from ``sock``; a ``100 Continue`` is skipped."""
    data = b""
    answers: list[bytes] = []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].lower()
            if head.startswith(b"http/1.1 100 "):
                data = data[head_end + 4 :]
                continue
            length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            end = head_end + 4 + length
            if len(data) >= end:
                answers.append(data[:end])
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return answers


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def body_of(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def test_a_post_the_app_takes_is_answered_without_asgi(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b"/fast", b"one"))
        sock.sendall(post(b"/fast", b"two") + post(b"/fast", b""))  # pipelined, and an empty body
        answers = read_answers(sock, 3)
    assert [body_of(a) for a in answers] == [b"fast:one", b"fast:two", b"fast:"]
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close" not in answers[0]
    assert running.app.asgi_paths == []


def test_a_body_in_many_pieces_is_answered_whole(running: Running) -> None:
    request = post(b"/fast", b"x" * 200_000)
    with running.connect() as sock:
        for start in range(0, len(request), 7_000):
            sock.sendall(request[start : start + 7_000])
        (answer,) = read_answers(sock, 1)
    assert body_of(answer) == b"fast:" + b"x" * 200_000


def test_what_the_fast_path_declines_goes_the_asgi_way(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b"/other", b"a"))  # the app declines it
        sock.sendall(post(b"/fast", b"b", b"Expect: 100-continue\r\n"))
        answers = read_answers(sock, 2)
        sock.sendall(b"POST /fast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n")
        answers += read_answers(sock, 1)
    assert [body_of(a) for a in answers] == [b"asgi:a", b"asgi:b", b"asgi:c"]
    assert running.app.asgi_paths == ["/other", "/fast", "/fast"]


def test_http_1_0_goes_the_asgi_way_and_is_closed(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b"/fast", b"old", version=b"1.0"))
        answer = read_until_closed(sock)
    assert body_of(answer) == b"asgi:old"


def test_a_post_behind_an_owed_answer_keeps_its_place(running: Running) -> None:
    running.app.slow_get.clear()
    with running.connect() as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + post(b"/fast", b"after"))
        threading.Timer(0.2, running.app.slow_get.set).start()
        answers = read_answers(sock, 2)
    assert [body_of(a) for a in answers] == [b"asgi:", b"asgi:after"]


def test_connection_close_is_answered_then_closed(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b"/fast", b"last", b"Connection: close\r\n"))
        answer = read_until_closed(sock)
    assert b"connection: close\r\n" in answer
    assert body_of(answer) == b"fast:last"
    assert running.app.asgi_paths == []


def test_a_graceful_stop_answers_the_post_being_read_then_closes(running: Running) -> None:
    with running.connect() as sock:
        request = post(b"/fast", b"in flight")
        sock.sendall(request[:-4])
        running.server.should_exit = True
        for _ in range(500):  # the server stops listening before it tells connections to finish
            try:
                socket.create_connection(("127.0.0.1", running.port), timeout=1).close()
            except OSError:
                break
            threading.Event().wait(0.01)
        threading.Event().wait(0.2)
        sock.sendall(request[-4:])
        answer = read_until_closed(sock)
    assert body_of(answer) == b"fast:in flight"
    assert b"connection: close\r\n" in answer


def test_an_awaited_answer_keeps_its_place_before_the_requests_behind_it(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b"/later", b"one") + post(b"/fast", b"two") + post(b"/later", b"three"))
        answers = read_answers(sock, 3)
        sock.sendall(post(b"/fast", b"four"))  # nothing owed any more: the fast path again
        answers += read_answers(sock, 1)
    assert [body_of(a) for a in answers] == [b"later:one", b"asgi:two", b"asgi:three", b"fast:four"]
    assert running.app.asgi_paths == ["/fast", "/later"]  # declined while an answer was owed


def test_an_awaited_answer_with_connection_close_is_answered_then_closed(running: Running) -> None:
    with running.connect() as sock:
        sock.sendall(post(b"/later", b"last", b"Connection: close\r\n"))
        answer = read_until_closed(sock)
    assert b"connection: close\r\n" in answer
    assert body_of(answer) == b"later:last"
