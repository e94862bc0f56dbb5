"""``BooksJob``: once a minute the ingest books (``/health``'s received, written, dropped by reason and
the queue depth) are written as a row of ``ingest_books``, so that they can be read over time
(``read.host.books``) and outlive a restart."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.stats import Stats
from openclaw_trace.storage.writes import record_books

log = logging.getLogger("openclaw_trace.storage")

T = TypeVar("T")
BOOKS_INTERVAL_S = 60.0


class WriterCalls(Protocol):
    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = ..., *, transaction: bool = ...) -> T: ...


class BooksJob(ThreadedPart):
    """Writes the books through the writer every ``interval_s``; thread ``oct-books``."""

    name = "books"
    stop_after_drain = False

    def __init__(
        self, writer: WriterCalls, stats: Stats, queue_depth: Callable[[], int], interval_s: float = BOOKS_INTERVAL_S
    ) -> None:
        super().__init__("oct-books")
        self._writer = writer
        self._stats = stats
        self._queue_depth = queue_depth
        self._started_at_ms = time.time_ns() // 1_000_000
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._rows = 0
        self._failures = 0
        self._last_error: str | None = None

    def record_books(self) -> None:
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
        with self._lock:
            self._rows += 1

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "alive": self._thread.is_alive(),
                "interval_s": self._interval_s,
                "rows": self._rows,
                "failures": self._failures,
                "last_error": self._last_error,
            }

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.record_books()
            except Exception as exc:  # the loop's edge: log, count, try again next interval
                if self._stop.is_set():
                    return  # the writer stopping under us at shutdown is expected
                with self._lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                self._stats.count("books.failures")
                log.exception("writing the ingest books failed")
