"""Responses written through the coalescing transport arrive whole and in order."""

from __future__ import annotations

import socket

from openclaw_trace.daemon import Daemon
from tests.conftest import rows


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    data = b""
    while data.count(b"HTTP/1.1 ") < count or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return [b"HTTP/1.1 " + part for part in data.split(b"HTTP/1.1 ")[1:]]


def test_pipelined_requests_get_their_answers_in_order(daemon: Daemon) -> None:
    good = b'{"provider":"p","model":"m"}'
    bad = b'{"provider":"p"}'

    def request(body: bytes) -> bytes:
        return (
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(request(good) + request(bad) + request(good))
        answers = read_responses(sock, 3)
    assert [a.split(b" ", 2)[1] for a in answers] == [b"202", b"400", b"202"]
    assert answers[0].endswith(b'{"received":1,"queued":1,"dropped":0}')
    assert b"model" in answers[1]
    assert daemon.writer.flush(5)
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 2


def test_connection_close_still_delivers_the_answer(daemon: Daemon) -> None:
    body = b'{"provider":"p","model":"m"}'
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 202")
    assert data.endswith(b'{"received":1,"queued":1,"dropped":0}')
