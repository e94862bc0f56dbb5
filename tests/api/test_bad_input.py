"""Hostile and malformed requests get a 4xx naming the problem; nothing breaks."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows

VALID = b'{"provider":"p","model":"m"}'
DEEP = b'{"provider":"p","model":"m","metadata":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"

BAD_TRACES: list[tuple[str, bytes, int, str]] = [
    ("malformed json", b'{"provider": "p",', 400, "invalid JSON"),
    ("not json at all", b"hello", 400, "invalid JSON"),
    ("empty body", b"", 400, "empty body"),
    ("whitespace body", b"   \n", 400, "empty body"),
    ("json null", b"null", 400, "Expected"),
    ("json string", b'"text"', 400, "Expected"),
    ("wrong type", b'{"provider":"p","model":"m","prompt_tokens":"ten"}', 400, "prompt_tokens"),
    ("negative tokens", b'{"provider":"p","model":"m","prompt_tokens":-1}', 400, "prompt_tokens"),
    ("missing provider", b'{"model":"m"}', 400, "provider"),
    ("missing model", b'{"provider":"p"}', 400, "model"),
    ("empty provider", b'{"provider":"","model":"m"}', 400, "provider"),
    ("provider too long", b'{"provider":"' + b"p" * 300 + b'","model":"m"}', 400, "provider"),
    ("metadata array", b'{"provider":"p","model":"m","metadata":[1]}', 400, "metadata"),
    ("metadata string", b'{"provider":"p","model":"m","metadata":"x"}', 400, "metadata"),
    ("unknown status", b'{"provider":"p","model":"m","status":"maybe"}', 400, "status"),
    ("NaN", b'{"provider":"p","model":"m","cost_usd":NaN}', 400, "invalid JSON"),
    ("Infinity", b'{"provider":"p","model":"m","cost_usd":Infinity}', 400, "invalid JSON"),
    ("overflow to inf", b'{"provider":"p","model":"m","cost_usd":1e999}', 400, "cost_usd"),
    ("lone surrogate", b'{"provider":"\\ud800","model":"m"}', 400, "invalid JSON"),
    ("lone low surrogate in metadata", b'{"provider":"p","model":"m","metadata":{"k":"\\udc00"}}', 400, ""),
    ("invalid utf-8", b'{"provider":"\xff\xfe","model":"m"}', 400, "invalid JSON"),
    ("deep nesting", DEEP, 400, "nested too deeply"),
    (
        "5000-digit int",
        b'{"provider":"p","model":"m","prompt_tokens":' + b"9" * 5000 + b"}",
        400,
        "prompt_tokens",
    ),
    (
        "5000-digit in metadata",
        b'{"provider":"p","model":"m","metadata":{"n":' + b"9" * 5000 + b"}}",
        400,
        "",
    ),
    ("5000-digit float", b'{"provider":"p","model":"m","cost_usd":1' + b"0" * 5000 + b".5}", 400, "cost_usd"),
    ("array with a bad item", b"[" + VALID + b',{"provider":3}]', 400, "$[1]"),
    # An OTLP root key inside a native event does not make it an OTLP request (was 200 {}).
    ("otlp key as a value", b'{"provider":"resource_spans"}', 400, "model"),
]

BAD_ERRORS: list[tuple[str, bytes, int, str]] = [
    ("unknown error_type", b'{"error_type":"oops","message":"m"}', 400, "error_type"),
    ("unknown severity", b'{"error_type":"crash","message":"m","severity":"meh"}', 400, "severity"),
    ("missing message", b'{"error_type":"crash"}', 400, "message"),
    ("empty message", b'{"error_type":"crash","message":""}', 400, "message"),
    ("message wrong type", b'{"error_type":"crash","message":5}', 400, "message"),
    ("metadata not object", b'{"error_type":"crash","message":"m","metadata":true}', 400, "metadata"),
]


def assert_still_working(daemon: Daemon, client: Client) -> None:
    assert client.post("/v1/traces", VALID)[0] == 202
    assert daemon.writer.flush(5)
    report = client.health()
    assert report["status"] == "ok"
    assert report["writer"]["alive"] is True
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 1


@pytest.mark.parametrize(("name", "body", "status", "needle"), BAD_TRACES, ids=[c[0] for c in BAD_TRACES])
def test_bad_trace_bodies(daemon: Daemon, client: Client, name: str, body: bytes, status: int, needle: str) -> None:
    got, answer = client.post("/v1/traces", body)
    assert got == status
    assert needle in answer["error"]
    assert "Traceback" not in answer["error"]
    assert_still_working(daemon, client)


@pytest.mark.parametrize(("name", "body", "status", "needle"), BAD_ERRORS, ids=[c[0] for c in BAD_ERRORS])
def test_bad_error_bodies(daemon: Daemon, client: Client, name: str, body: bytes, status: int, needle: str) -> None:
    got, answer = client.post("/v1/errors", body)
    assert got == status
    assert needle in answer["error"]
    assert_still_working(daemon, client)


def test_wrong_content_type_is_415(daemon: Daemon, client: Client) -> None:
    status, answer = client.request("POST", "/v1/traces", VALID, {"Content-Type": "text/plain"})
    assert status == 415
    assert "Content-Type" in answer["error"]
    status, _ = client.request(
        "POST", "/v1/traces", VALID, {"Content-Type": "application/json", "Content-Encoding": "br"}
    )
    assert status == 415
    assert_still_working(daemon, client)


def test_missing_content_type_is_read_as_json(daemon: Daemon, client: Client) -> None:
    assert client.request("POST", "/v1/traces", VALID)[0] == 202


def test_body_over_the_limit_is_413(make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(max_body_bytes=4096)
    client = connect(daemon)
    big = b'{"provider":"p","model":"m","input_text":"' + b"x" * 5000 + b'"}'
    status, answer = client.post("/v1/traces", big)
    assert status == 413
    assert "4096" in answer["error"]
    client = connect(daemon)  # the server may close a connection whose body it did not read
    assert_still_working(daemon, client)


def _raw_request(port: int, head: bytes, body_parts: list[bytes], pause_s: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for part in body_parts:
                sock.sendall(part)
                time.sleep(pause_s)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before we finished: that is the point
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_chunked_body_over_the_limit_is_413_without_reading_it_all(make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(max_body_bytes=4096)
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 1024
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)] + [b"0\r\n\r\n"]
    answer = _raw_request(daemon.port, head, parts)
    assert answer.startswith(b"HTTP/1.1 413")
    assert_still_working(daemon, connect(daemon))


def test_chunked_body_under_the_limit_is_accepted(daemon: Daemon, client: Client) -> None:
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    pieces = [VALID[:10], VALID[10:20], VALID[20:]]
    parts = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces]
    # Paused between chunks, so the body reaches the app in several messages.
    answer = _raw_request(daemon.port, head, [*parts, b"0\r\n\r\n"], pause_s=0.05)
    assert answer.startswith(b"HTTP/1.1 202")
    assert daemon.writer.flush(5)
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 1


def test_every_bad_request_left_the_counts_balanced(daemon: Daemon, client: Client) -> None:
    for _, body, _, _ in BAD_TRACES:
        client.post("/v1/traces", body)
    report = client.health()
    assert report["events_received"] == 0  # refused at the door: never counted as received
    assert report["events_dropped"] == 0
