"""``RollupJob``: every few seconds the single writer folds the new rows into the hourly rollups.

One control call through the writer (``storage.rollups.roll_up``) per
interval, between batches: two grouped statements over the rows written
since the last one, and the mark moved in the same transaction. Reads stay
exact meanwhile (they add the rows past the mark), so the interval only
sets how many raw rows a read adds to the rollups.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.stats import Stats
from openclaw_trace.storage.rollups import roll_up

log = logging.getLogger("openclaw_trace.storage")

T = TypeVar("T")
ROLLUP_INTERVAL_S = 5.0


class WriterCalls(Protocol):
    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = ..., *, transaction: bool = ...) -> T: ...


class RollupJob(ThreadedPart):
    """Runs ``roll_up`` through the writer every ``interval_s``; thread ``oct-rollup``. Stops without a last pass:
    the next start continues from the mark."""

    name = "rollups"
    stop_after_drain = False

    def __init__(self, writer: WriterCalls, stats: Stats, interval_s: float = ROLLUP_INTERVAL_S) -> None:
        super().__init__("oct-rollup")
        self._writer = writer
        self._stats = stats
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._passes = 0
        self._rows = 0
        self._failures = 0
        self._last_error: str | None = None

    def run_once(self) -> int:
        """One roll-up now; the ids it covered. Raises what the writer call raised."""
        rolled = self._writer.call(roll_up)
        with self._lock:
            self._passes += 1
            self._rows += rolled
        return rolled

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "alive": self._thread.is_alive(),
                "interval_s": self._interval_s,
                "passes": self._passes,
                "rows_rolled": self._rows,
                "failures": self._failures,
                "last_error": self._last_error,
            }

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.run_once()
            except Exception as exc:  # the loop's edge: log, count, try again next interval
                if self._stop.is_set():
                    return  # the writer stopping under us at shutdown is expected
                with self._lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                self._stats.count("rollups.failures")
                log.exception("rolling up model calls failed")
