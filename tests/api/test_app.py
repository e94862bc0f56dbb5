"""App's answer to a whole body: a route's client error becomes its 4xx, a bug a logged 500, never a raise."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from openclaw_trace import __version__
from openclaw_trace.api.app import App
from openclaw_trace.api.context import AppContext, BodyRoute
from openclaw_trace.api.http import Headers, HttpError, RequestHead, Response
from openclaw_trace.config import load_config
from openclaw_trace.model import EventLimits
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats

HEAD = RequestHead(b"application/json", b"", None)


def app() -> App:
    stats = Stats()
    ctx = AppContext(
        config=load_config({}), stats=stats, queue=IngestQueue(stats), version=__version__, limits=EventLimits()
    )
    return App(ctx)


def route(answer: Callable[[AppContext, RequestHead, bytes], Response]) -> BodyRoute:
    def check(_ctx: AppContext, _headers: Headers) -> RequestHead:
        return HEAD

    return BodyRoute(check, answer)


def test_a_route_that_raises_a_bug_answers_500_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_ctx: AppContext, _head: RequestHead, _body: bytes) -> Response:
        raise KeyError("a bug")

    answer = app()._answer_with(route(broken), HEAD, "/v1/boom")
    with caplog.at_level(logging.ERROR, logger="openclaw_trace.api"):
        response = answer(b"{}")
        again = answer(b"{}")  # the same answer keeps answering
    assert response.status == again.status == 500
    assert json.loads(response.body) == {"error": "internal error; see the daemon log"}
    assert [r.message for r in caplog.records] == ["unhandled error on POST /v1/boom"] * 2
    assert caplog.records[0].exc_info is not None  # the traceback goes to the log, not the client


def test_a_route_that_refuses_the_body_answers_its_status_and_message() -> None:
    def refuses(_ctx: AppContext, _head: RequestHead, body: bytes) -> Response:
        raise HttpError(422, f"no thanks: {len(body)} bytes", [(b"x-why", b"test")])

    response = app()._answer_with(route(refuses), HEAD, "/v1/picky")(b"abc")
    assert response.status == 422
    assert json.loads(response.body) == {"error": "no thanks: 3 bytes"}
    assert (b"x-why", b"test") in response.headers


def test_a_route_that_answers_is_passed_the_context_head_and_body() -> None:
    seen: list[tuple[object, RequestHead, bytes]] = []

    def records(ctx: AppContext, head: RequestHead, body: bytes) -> Response:
        seen.append((ctx, head, body))
        return Response(202, b"{}")

    daemon_app = app()
    assert daemon_app._answer_with(route(records), HEAD, "/v1/fine")(b"body").status == 202
    assert seen == [(daemon_app.ctx, HEAD, b"body")]
