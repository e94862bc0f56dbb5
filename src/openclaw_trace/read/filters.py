"""The filters every read takes, as SQL fragments with their parameters.

Time windows use the ``(synced, created_at)`` index that every data table has
for the pusher: ``synced IN (0, 1)`` lets SQLite walk it as two ranges of
``created_at``, so the read layer needs no index of its own (and the writer
maintains no extra one).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import Window

MAX_LIMIT = 1000


@dataclass(frozen=True)
class Filters:
    """Exact matches on a call's identity; None means any."""

    provider: str | None = None
    model: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    channel: str | None = None
    status: str | None = None  # traces: ok | error

    def __post_init__(self) -> None:
        if self.status not in (None, "ok", "error"):
            raise BadQuery("status", f"{self.status!r} is not a status: use ok or error")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def clause(self, *, with_status: bool = True) -> tuple[str, list[Any]]:
        """`` AND col = ?`` for each filter set (``status`` only where the table has it)."""
        sql, params = "", []
        for name in self.names():
            value = getattr(self, name)
            if value is None or (name == "status" and not with_status):
                continue
            sql += f" AND {name} = ?"
            params.append(value)
        return sql, params


def in_window(window: Window) -> tuple[str, list[Any]]:
    """The window as a predicate that walks the (synced, created_at) index."""
    return "synced IN (0, 1) AND created_at >= ? AND created_at < ?", [window.since_ms, window.until_ms]


def checked_limit(limit: int | None, default: int) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > MAX_LIMIT:
        raise BadQuery("limit", f"{limit} is out of range: use 1 to {MAX_LIMIT}")
    return limit
