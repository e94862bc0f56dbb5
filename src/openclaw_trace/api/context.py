"""What the HTTP handlers share: settings, counters and the queue, never the writer."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from openclaw_trace.config import Config
from openclaw_trace.lifecycle import Component
from openclaw_trace.model import EventLimits
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats


@dataclasses.dataclass
class AppContext:
    config: Config
    stats: Stats
    queue: IngestQueue
    version: str
    limits: EventLimits
    started_monotonic: float = dataclasses.field(default_factory=time.monotonic)
    # Background parts; each one's health() appears in /health under its name.
    components: list[Component] = dataclasses.field(default_factory=list)
    # Filled in by later capabilities (push); null until then, as /health promises.
    last_push_time_ms: int | None = None
    last_push_status: str | None = None


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[AppContext, Scope, Receive, Send], Awaitable[None]]
