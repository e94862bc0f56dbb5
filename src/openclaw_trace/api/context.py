"""What the HTTP handlers share: settings, counters and the queue, never the writer."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from openclaw_trace.config import Config
from openclaw_trace.lifecycle import Component
from openclaw_trace.model import EventLimits
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats

if TYPE_CHECKING:
    from openclaw_trace.api.http import Headers, RequestHead, Response
    from openclaw_trace.api.read import ReadPool
    from openclaw_trace.otlp.decoder import OtlpDecoder


@runtime_checkable
class PushState(Protocol):
    """A part that pushes (``push.scheduler.PushScheduler``), as ``/health`` sees it among ``components``."""

    def last_push(self) -> tuple[int, str] | None:
        """When the last push cycle started (ms) and its status; None before the first. Any thread."""
        ...


@dataclasses.dataclass
class AppContext:
    config: Config
    stats: Stats
    queue: IngestQueue
    version: str
    limits: EventLimits
    started_monotonic: float = dataclasses.field(default_factory=time.monotonic)
    # Background parts; each one's health() appears in /health under its name. The one
    # that pushes (a PushState) also gives /health its last_push_time and last_push_status.
    components: list[Component] = dataclasses.field(default_factory=list)
    # The read API's threads and connections (api/read.py); None: the read API is off.
    reads: ReadPool | None = None
    # OTLP export requests are decoded in this child process; None: on the event loop.
    otlp_decoder: OtlpDecoder | None = None


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[AppContext, Scope, Receive, Send], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class BodyRoute:
    """An endpoint answered from its whole body.

    ``check`` reads the headers before any of the body (415, 413 for a
    declared length over the limit, 400); ``answer`` turns the body into a
    response, or into an awaitable of one when the work is done elsewhere
    (OTLP, in its decoder process). Both raise ``HttpError`` for the client's
    mistakes, and so may the awaitable. The ASGI
    app awaits the body between the two; the protocol's fast path
    (``api/fast_path.py``) calls them around the body it has read itself.
    """

    check: Callable[[AppContext, Headers], RequestHead]
    answer: Callable[[AppContext, RequestHead, bytes], Response | Awaitable[Response]]
