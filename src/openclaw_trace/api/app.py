"""The application: a route table over the handlers, auth and error answers.

Routing is one dict lookup on (method, path). Every expected failure is an
``HttpError`` turned into a short JSON 4xx; anything else is a bug, logged
with its traceback and answered 500 without the traceback.

Requests reach it two ways: as an ASGI app (``__call__``), and for the POST
endpoints through ``fast_route`` and the answer it returns, which the daemon's
protocol calls without an ASGI cycle (``api/fast_path.py``). Both run the same
checks and the same ``BodyRoute``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from openclaw_trace.api import health, ingest, otlp, read
from openclaw_trace.api.context import AppContext, BodyRoute, Handler
from openclaw_trace.api.http import (
    ClientDisconnected,
    Headers,
    HttpError,
    Receive,
    RequestHead,
    Response,
    Scope,
    Send,
    error_response,
    header,
    read_body,
    send_error,
    send_response,
)

log = logging.getLogger("openclaw_trace.api")

# A whole body → its response, or an awaitable of it; neither raises.
Answer = Callable[[bytes], Response | Awaitable[Response]]


def _internal_error(path: str) -> Response:
    log.exception("unhandled error on POST %s", path)
    return error_response(HttpError(500, "internal error; see the daemon log"))


async def _awaited(answer: Awaitable[Response], path: str) -> Response:
    try:
        return await answer
    except HttpError as exc:
        return error_response(exc)
    except Exception:
        return _internal_error(path)


# (handler, needs the ingest token when one is set)
ROUTES: dict[str, dict[str, tuple[Handler | BodyRoute, bool]]] = {
    "/v1/traces": {"POST": (ingest.post_traces, True)},
    "/v1/errors": {"POST": (ingest.post_errors, True)},
    "/v1/metrics": {"POST": (otlp.post_metrics, True)},
    "/v1/logs": {"POST": (otlp.post_logs, True)},
    "/health": {"GET": (health.get_health, False)},
    "/metrics": {"GET": (health.get_metrics, False)},
}
# The body routes by the raw bytes of their path, for the fast path: (method,
# route, needs the token, the path as text). One body route per path, so one
# lookup of the path (hashing a tuple of method and path costs twice that).
_BODY_ROUTES: dict[bytes, tuple[bytes, BodyRoute, bool, str]] = {
    path.encode(): (method.encode(), route, needs_token, path)
    for path, methods in ROUTES.items()
    for method, (route, needs_token) in methods.items()
    if isinstance(route, BodyRoute)
}
# No two body routes may share a path (the dict above would keep only one):
assert len(_BODY_ROUTES) == sum(isinstance(r, BodyRoute) for m in ROUTES.values() for r, _ in m.values())


class App:
    """ASGI callable (HTTP only; uvicorn runs with lifespan off), and the fast path's routes."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        token = ctx.config.ingest_token
        self._expected_auth = b"Bearer " + token.encode() if token else None
        # Each body route with its fast-path answers to bodies sent without a
        # Content-Encoding, by media type (all the answer reads of the headers). Few
        # keys: the route's check refuses all but a few media types.
        # With OCT_FAST_PATH=false there are none: fast_route declines every request.
        self._fast: dict[bytes, tuple[bytes, BodyRoute, bool, str, dict[bytes, Answer]]] = {
            raw_path: (*found, {}) for raw_path, found in _BODY_ROUTES.items() if ctx.config.fast_path
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            methods = ROUTES.get(scope["path"])
            if methods is None and scope["path"].startswith(read.PREFIX):
                await read.get_read(self.ctx, scope, receive, send)
                return
            if methods is None:
                raise HttpError(404, f"no such path: {scope['path']}")
            route = methods.get(scope["method"])
            if route is None:
                allow = ", ".join(sorted(methods)).encode()
                raise HttpError(405, f"use {allow.decode()}", [(b"allow", allow)])
            handler, needs_token = route
            if needs_token and self._expected_auth is not None:
                self._check_token(scope["headers"])
            if isinstance(handler, BodyRoute):
                head = handler.check(self.ctx, scope["headers"])
                body = await read_body(receive, self.ctx.config.max_body_bytes, head.content_length)
                answer = self._answer_with(handler, head, scope["path"])(body)
                await send_response(send, answer if isinstance(answer, Response) else await answer)
            else:
                await handler(self.ctx, scope, receive, send)
        except HttpError as exc:
            await send_error(send, exc)
        except ClientDisconnected:
            return
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await send_error(send, HttpError(500, "internal error; see the daemon log"))

    def fast_route(self, method: bytes, path: bytes, headers: Headers) -> Answer | None:
        """How to answer a request whose headers are in, if it passes every check made before its body.

        None sends the request the ASGI way, which answers whatever is wrong
        with it (404, 405, 401, 415, 413…) as it always does. The route's
        check refuses a declared length over the body limit; the protocol
        sends chunked bodies the ASGI way.
        """
        found = self._fast.get(path)
        if found is None or found[0] != method:
            return None
        _, route, needs_token, path_text, answers = found
        try:
            if needs_token and self._expected_auth is not None:
                self._check_token(headers)
            head = route.check(self.ctx, headers)
        except HttpError:
            return None
        if head.content_encoding:
            return self._answer_with(route, head, path_text)
        answer = answers.get(head.media_type)
        if answer is None:
            # Without the length, which varies and which the answer does not read.
            head = RequestHead(head.media_type, b"", None)
            answer = answers[head.media_type] = self._answer_with(route, head, path_text)
        return answer

    def _answer_with(self, route: BodyRoute, head: RequestHead, path: str) -> Answer:
        """The route's answer to a whole body with this head; neither it nor its awaitable raises."""
        # A closure of what it needs rather than a partial of a method: one call and
        # two attribute lookups fewer per request on the fast path.
        ctx = self.ctx
        route_answer = route.answer

        def answer(body: bytes) -> Response | Awaitable[Response]:
            try:
                answered = route_answer(ctx, head, body)
            except HttpError as exc:
                return error_response(exc)
            except Exception:
                return _internal_error(path)
            return answered if isinstance(answered, Response) else _awaited(answered, path)

        return answer

    def _check_token(self, headers: Headers) -> None:
        given = header(headers, b"authorization") or b""
        assert self._expected_auth is not None
        if not hmac.compare_digest(given, self._expected_auth):
            raise HttpError(401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
