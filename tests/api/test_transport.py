"""Responses written through the coalescing transport arrive whole and in order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import struct
import threading
import time

import pytest
import uvloop

from openclaw_trace.api.transport import CoalescingTransport
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


def test_bytes_the_socket_cannot_take_go_through_the_transport_in_order() -> None:
    # A real uvloop transport on a loopback TCP connection with small buffers. The
    # socket fills, os.write takes part of a write or none, the transport holds the
    # rest; then the reader makes room before the transport has written again, and
    # the next write must still queue behind what the transport holds.
    loop = uvloop.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    reader = socket.create_connection(listener.getsockname(), timeout=30)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.setblocking(False)
    served, _ = listener.accept()
    served.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunks = (struct.pack(">I", index) * 250 for index in itertools.count())  # 1,000 bytes each
    sent = bytearray()
    received = bytearray()

    async def exchange() -> None:
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, served)
        coalescing = CoalescingTransport(transport, loop)  # type: ignore[arg-type]

        def write() -> None:
            chunk = next(chunks)
            sent.extend(chunk)
            coalescing.write(chunk)

        while not transport.get_write_buffer_size():  # until the transport holds bytes
            write()
            await asyncio.sleep(0)
        for _ in range(5):
            write()
            await asyncio.sleep(0)
        with contextlib.suppress(BlockingIOError):
            while chunk := reader.recv(65536):  # room in the socket, unseen by the loop
                received.extend(chunk)
        time.sleep(0.05)
        write()
        coalescing.close()  # sends what it holds now, then closes once all is out
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        while chunk := await loop.sock_recv(reader, 65536):
            received.extend(chunk)

    try:
        loop.run_until_complete(asyncio.wait_for(exchange(), 30))
    finally:
        loop.close()
        reader.close()
        listener.close()
    assert received == sent


def test_what_a_socket_takes_in_part_is_followed_by_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    # Writes of up to three chunks at a time into a socket whose reader starts late:
    # some os.write calls take a part, and the rest must follow it, not be lost.
    partial = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        sent = real_write(fd, data)
        if 0 < sent < len(data):
            partial.append(sent)
        return sent

    monkeypatch.setattr(os, "write", counting_write)
    loop = uvloop.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    reader = socket.create_connection(listener.getsockname(), timeout=30)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    served, _ = listener.accept()
    served.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunks = [struct.pack(">I", index) * 250 for index in range(2_000)]  # 1,000 bytes each, 2 MB
    received = bytearray()

    def read_all() -> None:
        time.sleep(0.3)
        # Room again before reading: a 4 KB window would make the 2 MB crawl.
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        while len(received) < 1_000 * len(chunks) and (chunk := reader.recv(65536)):
            received.extend(chunk)

    async def write_all() -> None:
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, served)
        coalescing = CoalescingTransport(transport, loop)  # type: ignore[arg-type]
        for index, chunk in enumerate(chunks):
            coalescing.write(chunk)
            if index % 3 == 0:
                await asyncio.sleep(0)
        coalescing.close()
        while not transport.is_closing() or transport.get_write_buffer_size():
            await asyncio.sleep(0.01)

    thread = threading.Thread(target=read_all, daemon=True)
    thread.start()
    try:
        loop.run_until_complete(asyncio.wait_for(write_all(), 30))
        thread.join(30)
    finally:
        loop.close()
        reader.close()
        listener.close()
    assert partial, "no write was taken in part: the test did not test it"
    assert bytes(received) == b"".join(chunks)


def test_a_client_that_resets_before_its_answer_leaves_the_daemon_working(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"provider":"p","model":"m"}'
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(request * 5)
        sock.close()  # linger 0: a reset, whatever the daemon is writing
    with caplog.at_level("WARNING"), socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(request)
        answer = read_responses(sock, 1)
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # an answer meant for another connection would show here
            sock.recv(65536)
    assert len(answer) == 1 and answer[0].startswith(b"HTTP/1.1 202")
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert daemon.writer.flush(10)
    stored = len(rows(daemon.config.db_path, "SELECT id FROM llm_traces"))
    assert 1 <= stored <= 101
