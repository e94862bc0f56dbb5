"""HTTP building blocks on their own: headers read, bodies bounded and decompressed, responses as messages or bytes."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from openclaw_trace.api.http import (
    ClientDisconnected,
    HttpError,
    RequestHead,
    Response,
    decompress,
    error_response,
    header,
    read_body,
    request_head,
    send_json,
)


@contextlib.contextmanager
def refused(status: int, match: str) -> Iterator[None]:
    """The block raises an HttpError with this status and message."""
    with pytest.raises(HttpError, match=match) as caught:
        yield
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("headers", "head"),
    [
        ([], RequestHead(b"", b"", None)),
        ([(b"content-type", b"application/json")], RequestHead(b"application/json", b"", None)),
        ([(b"content-type", b"Application/X-Protobuf ; charset=x")], RequestHead(b"application/x-protobuf", b"", None)),
        ([(b"content-length", b"42"), (b"x-other", b"1")], RequestHead(b"", b"", 42)),
        ([(b"content-encoding", b" GZIP ")], RequestHead(b"", b"gzip", None)),
        ([(b"content-encoding", b"identity")], RequestHead(b"", b"", None)),
        ([(b"content-encoding", b"x-gzip")], RequestHead(b"", b"x-gzip", None)),
        ([(b"content-encoding", b"deflate")], RequestHead(b"", b"deflate", None)),
    ],
)
def test_the_head_holds_what_a_post_needs(headers: list[tuple[bytes, bytes]], head: RequestHead) -> None:
    assert request_head(headers) == head


def test_a_head_we_cannot_use_is_refused() -> None:
    with refused(400, "invalid Content-Length"):
        request_head([(b"content-length", b"12abc")])
    with refused(415, "unsupported Content-Encoding 'br': send gzip or none"):
        request_head([(b"content-encoding", b"br")])


def test_a_header_is_found_by_its_lower_case_name() -> None:
    headers = [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")]
    assert header(headers, b"authorization") == b"Bearer a"
    assert header(headers, b"cookie") is None


def test_a_body_without_an_encoding_is_taken_as_it_came() -> None:
    body = b"x" * 100
    assert decompress(body, b"", 10) is body  # the body limit was checked while it was read


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [(b"gzip", gzip.compress), (b"x-gzip", gzip.compress), (b"deflate", zlib.compress)],
)
def test_a_compressed_body_is_undone_up_to_the_limit_and_not_past_it(encoding: bytes, compress: Any) -> None:
    body = b'{"message": "' + b"a" * 1000 + b'"}'
    packed = compress(body)
    assert decompress(packed, encoding, len(body)) == body
    with refused(413, f"decompressed body is over the limit of {len(body) - 1} bytes"):
        decompress(packed, encoding, len(body) - 1)


def test_a_small_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (10 << 20))  # 10 MiB of zeros in ~10 KB
    assert len(bomb) < 20_000
    with refused(413, "over the limit of 1048576 bytes"):
        decompress(bomb, b"gzip", 1 << 20)


def test_every_member_of_a_gzip_body_is_undone() -> None:
    members = gzip.compress(b"first,") + gzip.compress(b"second,") + gzip.compress(b"third")
    assert decompress(members, b"gzip", 100) == b"first,second,third"
    with refused(413, "over the limit"):  # the limit counts all members together
        decompress(members, b"gzip", 17)


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        (gzip.compress(b"hello world")[:-6], 400, "truncated gzip body"),
        (b"not gzip at all", 400, "invalid gzip body"),
        (gzip.compress(b"fine") + b"trailing junk", 400, "invalid gzip body"),
    ],
)
def test_a_broken_gzip_body_is_a_client_error(body: bytes, status: int, match: str) -> None:
    with refused(status, match):
        decompress(body, b"gzip", 1 << 20)


def read(messages: Iterable[dict[str, Any]], max_bytes: int, content_length: int | None) -> tuple[bytes, int]:
    """``read_body`` over these ASGI messages: (the body, how many messages it asked for)."""
    pending = list(messages)
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return pending.pop(0)

    return asyncio.run(read_body(receive, max_bytes, content_length)), asked


def chunk(body: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_body_in_parts_is_read_whole() -> None:
    assert read([chunk(b"abc", more=False)], 10, 3) == (b"abc", 1)
    assert read([chunk(b"ab"), chunk(b""), chunk(b"cd", more=False)], 10, None) == (b"abcd", 3)


def test_a_declared_length_over_the_limit_is_refused_before_any_of_the_body_is_read() -> None:
    with refused(413, "body of 11 bytes is over the limit of 10"):
        read([], 10, 11)  # receive is never called: it would find nothing


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    endless = (chunk(b"12345") for _ in range(1000))
    asked: list[int] = []

    async def receive() -> dict[str, Any]:
        asked.append(1)
        return next(endless)

    with refused(413, "body is over the limit of 12 bytes"):
        asyncio.run(read_body(receive, 12, None))
    assert len(asked) == 3  # 15 bytes read: no more


def test_a_client_gone_before_its_body_ends_is_said_so() -> None:
    with pytest.raises(ClientDisconnected):
        read([chunk(b"ab"), {"type": "http.disconnect"}], 10, None)


def test_a_response_on_the_wire_is_http_1_1_with_its_length() -> None:
    response = Response(202, b'{"queued":1}')
    assert response.wire(True, []) == (
        b'HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n{"queued":1}'
    )
    assert response.wire(False, [(b"retry-after", b"1")]) == (
        b"HTTP/1.1 202 Accepted\r\nretry-after: 1\r\ncontent-type: application/json\r\ncontent-length: 12\r\n"
        b'connection: close\r\n\r\n{"queued":1}'
    )
    text = Response(404, b"no", [(b"content-type", b"text/plain")])
    assert text.wire(True, []).startswith(
        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n"
    )


def test_a_kept_response_builds_its_keep_alive_bytes_and_its_messages_once() -> None:
    response = Response(200, b"{}")
    assert response.wire(True, []) is response.wire(True, [])
    assert response.wire(False, []) != response.wire(True, [])  # closing: built for the occasion
    start, body = response.messages()
    assert response.messages() == (start, body)
    assert response.messages()[0] is start
    assert start == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
    }
    assert body == {"type": "http.response.body", "body": b"{}"}


def test_an_error_is_a_json_answer_with_its_headers() -> None:
    response = error_response(HttpError(429, "slow down", [(b"retry-after", b"5")]))
    assert response.status == 429
    assert json.loads(response.body) == {"error": "slow down"}
    assert (b"retry-after", b"5") in response.headers
    assert (b"content-type", b"application/json") in response.headers


def test_json_is_sent_as_a_start_and_a_body() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(send_json(send, 202, {"queued": 2, "note": "é"}, [(b"x-extra", b"1")]))
    start, body = sent
    assert start["status"] == 202
    assert start["headers"][:2] == [(b"content-type", b"application/json"), (b"x-extra", b"1")]
    assert json.loads(body["body"]) == {"queued": 2, "note": "é"}
