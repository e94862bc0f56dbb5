"""Slow clients: trickled requests get 408 and are closed, silent connections are closed, real traffic goes on."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows

PARTIAL_HEADERS = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: "
PARTIAL_BODY = (
    b'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"pro'
)


def whole_request(body: bytes) -> bytes:
    """A complete POST /v1/traces with ``body``."""
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


class Trickler:
    """A client that sends ``start``, then ``drip`` every 50 ms until the server closes; keeps what it reads."""

    def __init__(self, port: int, start: bytes, drip: bytes = b"a", sock: socket.socket | None = None) -> None:
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(start)
        self.drip = drip
        self.answer = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.reader.start()

    def _send(self) -> None:
        while not self.stop.wait(0.05):
            try:
                self.sock.sendall(self.drip)
            except OSError:
                return

    def _read(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            self.answer += chunk
        self.stop.set()

    def finished(self, timeout_s: float = 30) -> bool:
        self.reader.join(timeout_s)
        self.stop.set()
        self.thread.join(timeout_s)
        self.sock.close()
        return not self.reader.is_alive()


def test_trickled_requests_get_408_and_real_traffic_is_untouched(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon(request_timeout=0.5)
    slow = [Trickler(daemon.port, PARTIAL_HEADERS if i % 2 else PARTIAL_BODY) for i in range(40)]
    client = connect(daemon)
    answers = [client.post("/v1/traces", {"provider": "p", "model": f"m{i}"}) for i in range(200)]

    assert all(trickler.finished() for trickler in slow)
    assert [status for status, _ in answers] == [202] * 200
    assert [body["queued"] for _, body in answers] == [1] * 200
    for trickler in slow:
        assert trickler.answer.startswith(b"HTTP/1.1 408 "), trickler.answer[:80]
        assert b'"error":"the request did not arrive whole in time"' in trickler.answer
    assert daemon.writer.flush(10)
    stored = rows(daemon.config.db_path, "SELECT model FROM llm_traces ORDER BY id")
    assert [row["model"] for row in stored] == [f"m{i}" for i in range(200)]
    report = client.health()
    assert report["events_received"] == report["events_written"] + report["events_dropped"]
    assert report["events_dropped"] == 0
    assert report["counters"]["http.late_requests"] == 40
    assert client.post("/v1/traces", {"provider": "p", "model": "after"})[0] == 202


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon(idle_timeout=0.2)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        assert sock.recv(100) == b""  # closed by the server, with nothing said


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(whole_request(b'{"provider":"p","model":"quiet"}'), id="answered-on-the-fast-path"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", id="answered-the-asgi-way"),
    ],
)
def test_a_connection_quiet_after_an_answer_is_closed_after_the_idle_timeout(
    make_daemon: Callable[..., Daemon], request_bytes: bytes
) -> None:
    # The fast path's answers arm no keep-alive timer: the sweep keeps the limit for them.
    daemon = make_daemon(idle_timeout=0.3, request_timeout=30)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.split(b" ", 2)[1] in (b"200", b"202")
        while chunk := sock.recv(4096):  # the rest of the body, then the server's close
            answer += chunk
    assert answer.count(b"HTTP/1.1 ") == 1  # closed quietly: no 408 after the answer
    assert daemon.writer.flush(10)


def test_a_request_within_its_deadline_is_served_however_slowly_it_came(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(request_timeout=30)
    request = whole_request(b'{"provider":"p","model":"slow-but-in-time"}')
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        piece = len(request) // 25 + 1
        for start in range(0, len(request), piece):  # in 25 pieces, 50 ms apart: sweeps pass meanwhile
            sock.sendall(request[start : start + piece])
            time.sleep(0.05)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert daemon.writer.flush(10)
    assert rows(daemon.config.db_path, "SELECT model FROM llm_traces") == [{"model": "slow-but-in-time"}]


def test_a_kept_alive_connection_is_not_late_between_requests(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    request = whole_request(b'{"provider":"p","model":"kept"}')
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        sock.sendall(request)
        assert sock.recv(4096).startswith(b"HTTP/1.1 202 ")
        # A trickler that starts after that answer is closed by a sweep that also saw
        # the kept connection, its answered request older than the deadline.
        witness = Trickler(daemon.port, PARTIAL_HEADERS)
        assert witness.finished()
        assert witness.answer.startswith(b"HTTP/1.1 408 ")
        sock.sendall(request)
        assert sock.recv(4096).startswith(b"HTTP/1.1 202 ")


def test_a_request_pipelined_behind_an_answer_still_has_its_deadline(make_daemon: Callable[..., Daemon]) -> None:
    # Both in one write, then nothing: the first is answered (arming the keep-alive
    # timer) while the second is already being read, and no later data disarms it.
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    trickler = Trickler(daemon.port, whole_request(b'{"provider":"p","model":"first"}') + PARTIAL_BODY, drip=b"")
    assert trickler.finished()
    assert trickler.answer.startswith(b"HTTP/1.1 202 ")
    assert b"HTTP/1.1 408 " in trickler.answer


def test_blank_lines_do_not_hold_a_connection(make_daemon: Callable[..., Daemon]) -> None:
    # The parser skips blank lines without starting a request: the deadline still runs.
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    fresh = Trickler(daemon.port, b"\r\n", drip=b"\r\n")
    assert fresh.finished()
    assert fresh.answer.startswith(b"HTTP/1.1 408 ")

    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
    sock.sendall(whole_request(b'{"provider":"p","model":"then-blank"}'))
    assert sock.recv(4096).startswith(b"HTTP/1.1 202 ")
    after_an_answer = Trickler(daemon.port, b"\r\n", drip=b"\r\n", sock=sock)
    assert after_an_answer.finished()
    assert after_an_answer.answer == b""  # closed quietly: the request it had sent was answered


def test_a_body_answered_before_it_was_read_is_not_counted_late(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    too_big = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2000000\r\n\r\n" + b" " * 1000
    )
    trickler = Trickler(daemon.port, too_big, drip=b" ")
    assert trickler.finished()
    assert trickler.answer.startswith(b"HTTP/1.1 413 ")
    assert b"408" not in trickler.answer
    assert connect(daemon).health()["counters"].get("http.late_requests", 0) == 0


def test_a_busy_connection_caught_mid_request_at_every_sweep_is_never_late(make_daemon: Callable[..., Daemon]) -> None:
    # Each request waits 150 ms between its halves, under the 200 ms deadline, so the
    # sweeps nearly always find the connection waiting; it is a new request each time.
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    request = whole_request(b'{"provider":"p","model":"busy"}')
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        for _ in range(20):
            sock.sendall(request[:40])
            time.sleep(0.15)
            sock.sendall(request[40:])
            assert sock.recv(4096).startswith(b"HTTP/1.1 202 ")


def test_a_client_that_stops_reading_is_closed(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    # 5,000 pipelined /health requests and no reading: the answers fill the socket
    # buffers, uvicorn stops reading, and the connection makes no progress.
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    pipelined = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 5000
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
    sender = threading.Thread(target=lambda: _send_quietly(sock, pipelined), daemon=True)
    sender.start()
    health = connect(daemon)
    for _ in range(300):  # until a sweep has closed it (a few seconds); never past 30 s
        if health.health()["counters"].get("http.stalled_responses", 0):
            break
        time.sleep(0.1)
    assert health.health()["counters"]["http.stalled_responses"] == 1
    answers = b""
    while chunk := sock.recv(1 << 16):  # what was sent before the close, then the end
        answers += chunk
    sock.close()
    sender.join(30)
    assert 0 < answers.count(b"HTTP/1.1 200 ") < 5000
    assert b"408 Request Timeout" not in answers  # never inside the answers it owed


def test_a_client_that_pipelines_posts_and_stops_reading_is_closed(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    # POSTs are answered on the fast path until the socket's buffers fill (~4 MB on
    # loopback); then the ASGI path waits for them to drain, uvicorn stops reading,
    # and a sweep closes the connection: as stalled, or as late when the last read
    # ended inside a request.
    daemon = make_daemon(request_timeout=0.2, idle_timeout=30)
    pipelined = whole_request(b'{"provider":"p","model":"m"}') * 200_000  # answers: ~20 MB
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
    sender = threading.Thread(target=lambda: _send_quietly(sock, pipelined), daemon=True)
    sender.start()
    health = connect(daemon)

    def closed() -> int:
        counters = health.health()["counters"]
        return int(counters.get("http.stalled_responses", 0) + counters.get("http.late_requests", 0))

    for _ in range(300):
        if closed():
            break
        time.sleep(0.1)
    assert closed() == 1
    answers = b""
    # The server closed with our unread requests in its buffer, so the end may be a reset.
    with contextlib.suppress(ConnectionResetError), sock:
        while chunk := sock.recv(1 << 16):
            answers += chunk
    sender.join(30)
    assert answers.count(b"HTTP/1.1 202 ") < 200_000
    assert b"408 Request Timeout" not in answers  # answers were owed: never one in their midst
    report = health.health()
    assert report["events_received"] == report["events_written"] + report["events_dropped"] + report["queue_depth"]


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server closes before taking it all
        sock.sendall(data)
