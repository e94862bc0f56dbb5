"""The ASGI application: a route table over the handlers, auth and error answers.

Routing is one dict lookup on (method, path). Every expected failure is an
``HttpError`` turned into a short JSON 4xx; anything else is a bug, logged
with its traceback and answered 500 without the traceback.
"""

from __future__ import annotations

import hmac
import logging

from openclaw_trace.api import health, ingest, otlp
from openclaw_trace.api.context import AppContext, Handler
from openclaw_trace.api.http import (
    ClientDisconnected,
    HttpError,
    Receive,
    Scope,
    Send,
    header,
    send_error,
)

log = logging.getLogger("openclaw_trace.api")


# (handler, needs the ingest token when one is set)
ROUTES: dict[str, dict[str, tuple[Handler, bool]]] = {
    "/v1/traces": {"POST": (ingest.post_traces, True)},
    "/v1/errors": {"POST": (ingest.post_errors, True)},
    "/v1/metrics": {"POST": (otlp.post_metrics, True)},
    "/v1/logs": {"POST": (otlp.post_logs, True)},
    "/health": {"GET": (health.get_health, False)},
    "/metrics": {"GET": (health.get_metrics, False)},
}


class App:
    """ASGI callable (HTTP only; uvicorn runs with lifespan off)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        token = ctx.config.ingest_token
        self._expected_auth = b"Bearer " + token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            methods = ROUTES.get(scope["path"])
            if methods is None:
                raise HttpError(404, f"no such path: {scope['path']}")
            route = methods.get(scope["method"])
            if route is None:
                allow = ", ".join(sorted(methods)).encode()
                raise HttpError(405, f"use {allow.decode()}", [(b"allow", allow)])
            handler, needs_token = route
            if needs_token and self._expected_auth is not None:
                self._check_token(scope)
            await handler(self.ctx, scope, receive, send)
        except HttpError as exc:
            await send_error(send, exc)
        except ClientDisconnected:
            return
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await send_error(send, HttpError(500, "internal error; see the daemon log"))

    def _check_token(self, scope: Scope) -> None:
        given = header(scope, b"authorization") or b""
        assert self._expected_auth is not None
        if not hmac.compare_digest(given, self._expected_auth):
            raise HttpError(401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
