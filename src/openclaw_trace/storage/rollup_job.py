"""``RollupJob``: every few seconds the new calls are folded into the hourly rollups, and once a
minute the ingest books (``/health``'s received, written, dropped) are written as a row.

The sums are taken on the job's own read-only connection, at a lower CPU
priority, off the writer (``storage.rollups.pending``); the single writer
then only adds them and moves the mark (``apply``): a few upserts, so the
writer never stops taking batches for long. Reads stay exact meanwhile
(they add the rows past the mark), so the interval only sets how many raw
rows a read adds to the rollups.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.stats import Stats
from openclaw_trace.storage.connection import open_read_connection
from openclaw_trace.storage.rollups import apply, pending
from openclaw_trace.storage.writes import record_books

log = logging.getLogger("openclaw_trace.storage")

T = TypeVar("T")
ROLLUP_INTERVAL_S = 5.0
JOB_NICENESS = 10
# Under a heavy load a pass sums at most this many calls: its read snapshots keep the WAL
# from restarting, and the checkpointer's TRUNCATE then holds the writer off (docs/benchmarks.md).
# The mark lags during a burst (reads add the rows past it, so they stay exact) and catches up after.
BUSY_MAX_IDS = 20_000
BUSY_ROWS_PER_S = 2_000  # a write rate above this is a heavy load
BOOKS_INTERVAL_S = 60.0


class WriterCalls(Protocol):
    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = ..., *, transaction: bool = ...) -> T: ...


class RollupJob(ThreadedPart):
    """Runs ``roll_up`` through the writer every ``interval_s``; thread ``oct-rollup``. Stops without a last pass:
    the next start continues from the mark."""

    name = "rollups"
    stop_after_drain = False

    def __init__(
        self,
        writer: WriterCalls,
        stats: Stats,
        db_path: str,
        queue_depth: Callable[[], int],
        interval_s: float = ROLLUP_INTERVAL_S,
        books_interval_s: float = BOOKS_INTERVAL_S,
    ) -> None:
        super().__init__("oct-rollup")
        self._writer = writer
        self._stats = stats
        self._db_path = db_path
        self._reader: sqlite3.Connection | None = None
        self._queue_depth = queue_depth
        self._started_at_ms = time.time_ns() // 1_000_000
        self._interval_s = interval_s
        self._books_interval_s = books_interval_s
        self._books_due = time.monotonic() + books_interval_s
        self._lock = threading.Lock()
        self._passes = 0
        self._rows = 0
        self._failures = 0
        self._last_error: str | None = None
        self._last_sum_ms = 0.0  # summing the new calls, off the writer
        self._last_apply_ms = 0.0  # the writer's share: waiting for it, then the upserts
        self._last_groups = 0
        self._last_pass = (time.monotonic(), stats.rows_written())

    def run_once(self) -> int:
        """One roll-up now (summed on the calling thread, applied by the writer); the ids it covered."""
        if self._reader is None:
            self._reader = open_read_connection(self._db_path)
        started = time.monotonic()
        now, written = time.monotonic(), self._stats.rows_written()
        then, written_then = self._last_pass
        self._last_pass = (now, written)
        busy = (written - written_then) / max(now - then, 1e-3) > BUSY_ROWS_PER_S
        summed = pending(self._reader, max_ids=BUSY_MAX_IDS if busy else None)
        summed_at = time.monotonic()
        # A plain function with its argument bound: the writer may run it in another process.
        rolled = self._writer.call(functools.partial(apply, summed=summed)) if summed.costs else 0
        with self._lock:
            self._passes += 1
            self._rows += rolled
            self._last_sum_ms = round((summed_at - started) * 1000, 1)
            self._last_apply_ms = round((time.monotonic() - summed_at) * 1000, 1)
            self._last_groups = len(summed.costs) + len(summed.latencies)
        return rolled

    def record_books(self) -> None:
        """Write the ingest books as they stand now, through the writer."""
        snapshot = self._stats.snapshot()
        by_reason = snapshot.dropped_by_reason()
        row = (
            time.time_ns() // 1_000_000,
            self._started_at_ms,
            snapshot.events_received,
            snapshot.events_written,
            snapshot.events_dropped,
            json.dumps(by_reason, sort_keys=True),
            self._queue_depth(),
        )
        # A plain function with its argument bound: the writer may run it in another process.
        self._writer.call(functools.partial(record_books, row=row))

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "alive": self._thread.is_alive(),
                "interval_s": self._interval_s,
                "passes": self._passes,
                "rows_rolled": self._rows,
                "last_sum_ms": self._last_sum_ms,
                "last_apply_ms": self._last_apply_ms,
                "last_upserts": self._last_groups,
                "failures": self._failures,
                "last_error": self._last_error,
            }

    def stop(self, timeout_s: float) -> bool:
        stopped = super().stop(timeout_s)
        if stopped and self._reader is not None:
            self._reader.close()
            self._reader = None
        return stopped

    def _run(self) -> None:
        # Summing is a second of SQLite a pass at 45,000 calls/s: it runs only on CPU time ingest
        # leaves idle (Linux SCHED_IDLE; elsewhere a lower priority).
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        except (OSError, AttributeError):
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
        while not self._stop.wait(self._interval_s):
            try:
                self.run_once()
                if time.monotonic() >= self._books_due:
                    self._books_due = time.monotonic() + self._books_interval_s
                    self.record_books()
            except Exception as exc:  # the loop's edge: log, count, try again next interval
                if self._stop.is_set():
                    return  # the writer stopping under us at shutdown is expected
                with self._lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                self._stats.count("rollups.failures")
                log.exception("rolling up model calls failed")
