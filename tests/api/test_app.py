"""App's answer to a whole body: a route's client error becomes its 4xx, a bug a logged 500, never a raise."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from openclaw_trace import __version__
from openclaw_trace.api import app as app_module
from openclaw_trace.api.app import App
from openclaw_trace.api.context import AppContext, BodyRoute
from openclaw_trace.api.http import Headers, HttpError, RequestHead, Response, request_head
from openclaw_trace.config import load_config
from openclaw_trace.model import EventLimits
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats


def app(**env: str) -> App:
    stats = Stats()
    ctx = AppContext(
        config=load_config(env), stats=stats, queue=IngestQueue(stats), version=__version__, limits=EventLimits()
    )
    return App(ctx)


def test_with_the_fast_path_off_the_app_takes_no_request_on_it() -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    assert app().fast_route(b"POST", b"/v1/traces", headers) is not None
    assert app(OCT_FAST_PATH="false").fast_route(b"POST", b"/v1/traces", headers) is None


def serve_route(
    monkeypatch: pytest.MonkeyPatch, path: str, answer: Callable[[AppContext, RequestHead, bytes], Response]
) -> None:
    """Add ``POST path`` to the route table, answered by ``answer`` (the head as the request's headers say)."""

    def check(_ctx: AppContext, headers: Headers) -> RequestHead:
        return request_head(headers)

    monkeypatch.setitem(app_module.ROUTES, path, {"POST": (BodyRoute(check, answer), False)})


def post(daemon_app: App, path: str, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """One POST through the ASGI app: (status, headers, body)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
    }
    asyncio.run(daemon_app(scope, receive, send))
    start, whole = sent
    return start["status"], dict(start["headers"]), whole["body"]


def test_a_route_that_raises_a_bug_answers_500_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_ctx: AppContext, _head: RequestHead, _body: bytes) -> Response:
        raise KeyError("a bug")

    serve_route(monkeypatch, "/v1/boom", broken)
    daemon_app = app()
    with caplog.at_level(logging.ERROR, logger="openclaw_trace.api"):
        status, _, body = post(daemon_app, "/v1/boom", b"{}")
        again, _, _ = post(daemon_app, "/v1/boom", b"{}")  # the app keeps answering
    assert status == again == 500
    assert json.loads(body) == {"error": "internal error; see the daemon log"}
    assert [r.message for r in caplog.records] == ["unhandled error on POST /v1/boom"] * 2
    assert caplog.records[0].exc_info is not None  # the traceback goes to the log, not the client


def test_a_route_that_refuses_the_body_answers_its_status_and_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(_ctx: AppContext, _head: RequestHead, body: bytes) -> Response:
        raise HttpError(422, f"no thanks: {len(body)} bytes", [(b"x-why", b"test")])

    serve_route(monkeypatch, "/v1/picky", refuses)
    status, headers, body = post(app(), "/v1/picky", b"abc")
    assert status == 422
    assert json.loads(body) == {"error": "no thanks: 3 bytes"}
    assert headers[b"x-why"] == b"test"


def test_a_route_that_answers_is_passed_the_context_head_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, RequestHead, bytes]] = []

    def records(ctx: AppContext, head: RequestHead, body: bytes) -> Response:
        seen.append((ctx, head, body))
        return Response(202, b"{}")

    serve_route(monkeypatch, "/v1/fine", records)
    daemon_app = app()
    assert post(daemon_app, "/v1/fine", b"body")[0] == 202
    assert seen == [(daemon_app.ctx, RequestHead(b"application/json", b"", 4), b"body")]


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (HttpError(503, "busy, retry"), 503, "busy, retry"),
        (KeyError("a bug"), 500, "internal error; see the daemon log"),
    ],
)
def test_an_answer_done_elsewhere_that_fails_is_answered_like_one_done_at_once(
    error: Exception, status: int, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def later() -> Response:
        raise error

    def elsewhere(_ctx: AppContext, _head: RequestHead, _body: bytes) -> Any:
        return later()

    serve_route(monkeypatch, "/v1/later", elsewhere)
    answered, _, body = post(app(), "/v1/later", b"{}")
    assert (answered, json.loads(body)) == (status, {"error": message})
