"""The daemon's POST endpoints give the same answer on the fast path as through ASGI.

A body with a Content-Length goes the fast path (``api/fast_path.py``);
the same body sent chunked goes through the ASGI app. Each request below is
sent both ways to one daemon and must get the same status and body, and
both copies must land.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from openclaw_trace.daemon import Daemon
from tests.api.test_fast_path import read_until_closed
from tests.conftest import rows

SPAN = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "spanId": "eee19b7ec3c1b174",
    "name": "openclaw.session.stuck",
    "startTimeUnixNano": "1795000000000000000",
    "endTimeUnixNano": "1795000001000000000",
}
OTLP_TRACES = {"resourceSpans": [{"scopeSpans": [{"spans": [SPAN]}]}]}
JSON = "application/json"

CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("one trace", "/v1/traces", json.dumps({"provider": "p", "model": "m"}).encode(), {}),
    ("an array", "/v1/traces", json.dumps([{"provider": "p", "model": f"m{i}"} for i in range(3)]).encode(), {}),
    ("an error", "/v1/errors", json.dumps({"error_type": "llm_error", "message": "x"}).encode(), {}),
    ("gzip", "/v1/traces", gzip.compress(b'{"provider":"p","model":"gz"}'), {"Content-Encoding": "gzip"}),
    ("OTLP JSON on /v1/traces", "/v1/traces", json.dumps(OTLP_TRACES).encode(), {}),
    ("malformed", "/v1/traces", b'{"provider":', {}),
    ("a missing field", "/v1/traces", b'{"provider":"p"}', {}),
    ("an unknown error_type", "/v1/errors", b'{"error_type":"nope","message":"x"}', {}),
    ("an empty body", "/v1/errors", b"", {}),
    ("NaN", "/v1/traces", b'{"provider":"p","model":"m","cost_usd":NaN}', {}),
    ("a bad gzip body", "/v1/traces", b"not gzip", {"Content-Encoding": "gzip"}),
    ("undecodable OTLP", "/v1/logs", b"{not json", {}),
]


def raw_exchange(port: int, request: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """(status line, headers by lower-cased name, body) as the server sent them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = read_until_closed(sock)
    head, body = answer.split(b"\r\n\r\n", 1)
    status, *lines = head.split(b"\r\n")
    return status, {name.lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}, body


def exchange(port: int, request: bytes) -> tuple[int, Any]:
    status, _, body = raw_exchange(port, request)
    return int(status.split(b" ", 2)[1]), json.loads(body)


def request_bytes(path: str, body: bytes, headers: dict[str, str], chunked: bool) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in {"Content-Type": JSON, **headers}.items()]
    if not chunked:
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    lines.append("Transfer-Encoding: chunked")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


@pytest.mark.parametrize(("name", "path", "body", "headers"), CASES, ids=[case[0] for case in CASES])
def test_both_ways_give_the_same_answer(
    daemon: Daemon, name: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    fast = exchange(daemon.port, request_bytes(path, body, headers, chunked=False))
    asgi = exchange(daemon.port, request_bytes(path, body, headers, chunked=True))
    assert fast == asgi
    assert fast[0] in (200, 202, 400)


def test_both_ways_store_the_same_rows(daemon: Daemon) -> None:
    for chunked in (False, True):
        for _, path, body, headers in CASES:
            exchange(daemon.port, request_bytes(path, body, headers, chunked))
    assert daemon.writer.flush(5)
    models = [row["model"] for row in rows(daemon.config.db_path, "SELECT model FROM llm_traces ORDER BY id")]
    assert models == ["m", "m0", "m1", "m2", "gz"] * 2
    errors = rows(daemon.config.db_path, "SELECT error_type FROM error_events ORDER BY id")
    assert [row["error_type"] for row in errors] == ["llm_error", "system_error"] * 2


def test_a_token_and_a_content_type_are_checked_before_the_fast_path(make_daemon: Any) -> None:
    daemon = make_daemon(ingest_token="s3cret")
    body = b'{"provider":"p","model":"m"}'
    assert exchange(daemon.port, request_bytes("/v1/traces", body, {}, chunked=False))[0] == 401
    authorized = {"Authorization": "Bearer s3cret"}
    assert exchange(daemon.port, request_bytes("/v1/traces", body, authorized, chunked=False))[0] == 202
    wrong_type = {**authorized, "Content-Type": "text/plain"}
    status, answer = exchange(daemon.port, request_bytes("/v1/traces", body, wrong_type, chunked=False))
    assert status == 415
    assert "Content-Type" in answer["error"]
    too_long = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
        b"Connection: close\r\nContent-Length: 99999999\r\n\r\n"
    )
    assert exchange(daemon.port, too_long)[0] == 413


def status_of(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_fast_answers_are_kept_apart_by_media_type(daemon: Daemon) -> None:
    # The app caches one fast-path answer per path and media type: a protobuf export
    # after a JSON event on the same path must not get the JSON answer, nor the reverse.
    trace = b'{"provider":"p","model":"m"}'
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="openclaw.session.stuck")
    export = request.SerializeToString()
    sent = [(JSON, trace), ("application/x-protobuf", export), ("text/json", trace), (JSON, trace)]
    statuses = [
        status_of(daemon.port, request_bytes("/v1/traces", body, {"Content-Type": media_type}, chunked=False))
        for media_type, body in sent
    ]
    assert statuses == [202, 200, 202, 202]
    assert daemon.writer.flush(5)
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 3


def test_with_the_fast_path_off_every_answer_is_the_same(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    # OCT_FAST_PATH=false: the fallback for a uvicorn the fast path was not tested with.
    fast = make_daemon(db_path=str(tmp_path / "fast.db"))
    plain = make_daemon(db_path=str(tmp_path / "plain.db"), fast_path=False)
    for name, path, body, headers in CASES:
        request = request_bytes(path, body, headers, chunked=False)
        assert raw_exchange(fast.port, request) == raw_exchange(plain.port, request), name
    for daemon in (fast, plain):
        assert daemon.writer.flush(10)
    counted = "SELECT count(*) AS n FROM llm_traces"
    assert rows(fast.config.db_path, counted) == rows(plain.config.db_path, counted)
