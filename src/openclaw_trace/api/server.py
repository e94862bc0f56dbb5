"""The daemon's HTTP server: its uvicorn settings, and the sweep for late requests.

The settings are shared with bench/ingest_only_app.py, so the benchmark's
202 path runs on exactly the daemon's stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from openclaw_trace.api.deadlines import DeadlineHttpToolsProtocol, close_overdue

log = logging.getLogger("openclaw_trace.http")

SWEEP_EVERY_TICKS = 10  # uvicorn ticks every 0.1 s: sweep once a second


def server_config(app: Any, *, idle_timeout_s: float, **settings: Any) -> uvicorn.Config:
    """The daemon's uvicorn settings for ``app``, with ``settings`` added.

    httptools through ``DeadlineHttpToolsProtocol`` (the fast path and the
    deadlines); a connection quiet for ``idle_timeout_s`` (after connecting
    or after a response) is closed; no lifespan, access log, logging set-up
    of uvicorn's own, or Server/Date headers.
    """
    return uvicorn.Config(
        app,
        http=DeadlineHttpToolsProtocol,
        timeout_keep_alive=idle_timeout_s,  # type: ignore[arg-type]  # a float works: it goes to call_later
        proxy_headers=False,  # loopback sidecar: no proxy in front, no header rewriting
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=False,
        **settings,
    )


class HttpServer(uvicorn.Server):
    """uvicorn's server, leaving the signals to the daemon and closing late requests once a second.

    uvicorn re-raises a captured signal after it returns, which would kill
    the process before the queue is drained; the daemon handles them.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        request_timeout_s: float,
        count_closed: Callable[[str, int], None] = lambda _reason, _count: None,
    ) -> None:
        super().__init__(config)
        self._request_timeout_s = request_timeout_s
        self._count_closed = count_closed  # told, per sweep, how many connections it closed and why

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        if counter % SWEEP_EVERY_TICKS == 0:
            now = asyncio.get_running_loop().time()
            closed = close_overdue(self.server_state.connections, now, self._request_timeout_s)
            for reason, count in closed.items():
                self._count_closed(reason, count)
                log.warning(
                    "closed %d connection(s) with no progress for %gs (%s)",
                    count,
                    self._request_timeout_s,
                    reason.replace("_", " "),
                )
        return await super().on_tick(counter)
