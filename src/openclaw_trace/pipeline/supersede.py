"""One model call, one row: the plugin's rows replace what other feeds said of the same run.

The gateway log and OpenClaw's OTLP exporter report model calls and their
failures too. OpenClaw's exporter parents its spans on the run's W3C trace
context and the gateway log stamps its lines with the same trace id, so a
run is recognised across feeds by that id (the plugin keeps it as
``metadata.w3c_trace_id``, the log and OTLP as ``metadata.trace_id``). The
plugin's rows win: they carry the most (text, provider error, attempts).

After a batch that could make or meet a duplicate, the writer deletes the
log's and OTLP's model-call errors, and OTLP's traces, of runs the plugin
reported (``storage.writes``), whichever arrived first. A batch can only
meet one when it holds plugin rows, or log or OTLP rows while the plugin
has delivered within the window: a daemon without the plugin never runs
the deletes.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping
from typing import Protocol

from openclaw_trace.storage import writes

log = logging.getLogger("openclaw_trace.pipeline")

SUPERSEDED_COUNTER = "dedup.superseded"  # rows replaced by the plugin's, in /health's counters
# How far back a row may be replaced: the plugin sends a call seconds after the log has it,
# OpenClaw's exporter within its flush interval.
WINDOW_MS = 10 * 60_000
_CALL_KINDS = ("trace", "error")


class Counters(Protocol):
    def count(self, name: str, amount: int = 1) -> None: ...

    def add_unsynced(self, delta: int) -> None: ...


class Superseder:
    """Decides per batch whether duplicates can exist and deletes them. Used by the writer only."""

    def __init__(self, stats: Counters) -> None:
        self._stats = stats
        self._plugin_seen_ms = -WINDOW_MS  # when a batch last held plugin rows

    def wanted(self, feeds_by_kind: Mapping[str, Mapping[str, int]], now_ms: int) -> bool:
        """Whether a batch with these rows per kind and feed (``feeds.feeds_by_kind``) may meet a duplicate."""
        feeds = {feed for kind in _CALL_KINDS for feed in feeds_by_kind.get(kind, ())}
        if "plugin" in feeds:
            self._plugin_seen_ms = now_ms
            return True
        return bool(feeds & {"log", "otlp"}) and now_ms - self._plugin_seen_ms < WINDOW_MS

    def run(self, conn: sqlite3.Connection, now_ms: int) -> None:
        """Deletes the duplicates; a failure is logged and leaves them (never loses the plugin's rows)."""
        try:
            deleted = writes.supersede_duplicates(conn, now_ms - WINDOW_MS)
        except sqlite3.Error as exc:
            log.warning("could not replace duplicate rows by the plugin's: %s", exc)
            return
        if deleted:
            self._stats.count(SUPERSEDED_COUNTER, deleted)
            self._stats.add_unsynced(-deleted)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
