"""``BooksJob``: once a minute the ingest books (``/health``'s received, written, dropped by reason and
the queue depth) are written as a row of ``ingest_books``, so that they can be read over time
(``read.host.books``) and outlive a restart."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from openclaw_trace.lifecycle import PeriodicPart
from openclaw_trace.stats import Stats
from openclaw_trace.storage.writes import record_books

T = TypeVar("T")
BOOKS_INTERVAL_S = 60.0


class WriterCalls(Protocol):
    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = ..., *, transaction: bool = ...) -> T: ...


class BooksJob(PeriodicPart):
    """Writes the books through the writer every ``interval_s``; thread ``oct-books``."""

    name = "books"
    failure_message = "writing the ingest books failed"
    logger = logging.getLogger("openclaw_trace.storage")
    stop_after_drain = False

    def __init__(
        self, writer: WriterCalls, stats: Stats, queue_depth: Callable[[], int], interval_s: float = BOOKS_INTERVAL_S
    ) -> None:
        super().__init__("oct-books", stats, interval_s)
        self._writer = writer
        self._stats = stats
        self._queue_depth = queue_depth
        self._started_at_ms = time.time_ns() // 1_000_000
        self._rows = 0

    def tick(self) -> None:
        """Write the ingest books as they stand now, through the writer."""
        snapshot = self._stats.snapshot()
        row = (
            time.time_ns() // 1_000_000,
            self._started_at_ms,
            snapshot.events_received,
            snapshot.events_written,
            snapshot.events_dropped,
            json.dumps(snapshot.dropped_by_reason(), sort_keys=True),
            self._queue_depth(),
        )
        # A plain function with its argument bound: the writer may run it in another process.
        self._writer.call(functools.partial(record_books, row=row))
        self._rows += 1  # only this part's thread (or a test's) writes it

    def health(self) -> dict[str, Any]:
        return self.loop_health() | {"rows": self._rows}
