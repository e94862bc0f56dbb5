"""The shape every long-running part shares, so the daemon can start and stop them alike."""

from __future__ import annotations

from typing import Any, Protocol


class Component(Protocol):
    """A background part (metrics collector, upkeep, log tailer, pusher).

    ``start`` once. ``stop(timeout_s)`` is idempotent, returns within about
    ``timeout_s`` and says whether the part ended. ``health`` is shown in
    ``/health`` under ``name`` (None: nothing to show). Parts that produce
    events stop before the queue is drained; parts with
    ``stop_after_drain`` (the pusher's final push) stop after it, while the
    writer still takes control calls.
    """

    name: str
    stop_after_drain: bool

    def start(self) -> None: ...

    def stop(self, timeout_s: float) -> bool: ...

    def health(self) -> dict[str, Any] | None: ...
