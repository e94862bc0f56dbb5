"""Writing one batch of envelopes: ids, multi-row inserts, bundles, retries.

Failures are sorted into two kinds:

- the database cannot take writes right now (busy, locked, full, I/O):
  the rows are kept and retried with backoff, so nothing accepted is lost;
  meanwhile the queue fills and the door counts ``queue_full`` drops;
- a row the database refuses (constraint, too big, bad value): the rows
  are retried one by one, so one bad row never takes its neighbours down;
  the refused rows are counted as ``write_error`` drops.

A *bundle* (kind ``bundle``: inner envelopes plus SQL statements) is written
in one transaction, statements included: the log tailer stores a file's
events and its new read position together, so a crash can neither lose nor
repeat lines.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.feeds import feed_totals, feeds_by_kind
from openclaw_trace.pipeline.ids import uuid4_strings
from openclaw_trace.pipeline.queue import BUNDLE, inner_kinds
from openclaw_trace.pipeline.supersede import Superseder, now_ms
from openclaw_trace.scrub import scrub_row
from openclaw_trace.storage import rollups, writes
from openclaw_trace.storage.connection import immediate_transaction

log = logging.getLogger("openclaw_trace.writer")

# SQLite primary result codes after which the same rows may well succeed later.
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_DB_UNWRITABLE_CODES = {7, 8, 10, 13, 14, 15}  # NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
RETRY_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
REDACTED_COUNTER = "scrub.redacted"  # secrets taken out of stored text, in /health's counters
FOLD_INTERVAL_S = 1.0  # how often the calls summed in memory go into the hourly rollups

Row = tuple[Any, ...]
Statement = tuple[str, Sequence[Any]]


class WriteCounters(Protocol):
    """The counters a batch moves: ``Stats``, or the writer process's stand-in that forwards them."""

    def record_written(self, kind: str, count: int) -> None: ...

    def record_dropped(self, kind: str, reason: str, count: int = 1) -> None: ...

    def record_write_ok(self) -> None: ...

    def record_write_failure(self, error: str, db_error: bool) -> None: ...

    def count(self, name: str, amount: int = 1) -> None: ...

    def record_feeds(self, counts: dict[str, int], at_ms: int) -> None: ...

    def add_unsynced(self, delta: int) -> None: ...


class DatabaseUnavailable(Exception):
    """Writing failed for reasons of the database, not of the rows."""

    def __init__(self, message: str, db_error: bool) -> None:
        super().__init__(message)
        self.db_error = db_error


def classify(exc: BaseException) -> DatabaseUnavailable | None:
    """A ``DatabaseUnavailable`` for database-level failures, None for row-level ones."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in _BUSY_CODES:
        return DatabaseUnavailable(str(exc), db_error=False)
    if code in _DB_UNWRITABLE_CODES:
        return DatabaseUnavailable(str(exc), db_error=True)
    return None


def rows_by_kind(envelopes: Sequence[Envelope]) -> dict[str, list[Row]]:
    """Full rows ``(trace_id, created_at, *values)`` grouped by kind, each with a fresh UUID v4."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for trace_id, envelope in zip(uuid4_strings(len(envelopes)), envelopes, strict=True):
        grouped[envelope.kind].append((trace_id, envelope.created_at_ms, *envelope.values))
    return grouped


def scrub_rows(grouped: dict[str, list[Row]]) -> int:
    """Take known secrets out of the text values of ``grouped``'s rows, in place; how many were."""
    redacted = 0
    for rows in grouped.values():
        for index, row in enumerate(rows):
            rows[index], found = scrub_row(row)
            redacted += found
    return redacted


class BatchWrites:
    """Writes batches on one connection; used only by the writer thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        stats: WriteCounters,
        stopping: threading.Event,
        between_retries: Callable[[], None] = lambda: None,
        scrub_secrets: bool = False,
        before_insert: Callable[[], None] = lambda: None,
    ) -> None:
        self._conn = conn
        self._superseder = Superseder(stats)
        self._scrub_secrets = scrub_secrets  # OCT_SCRUB_SECRETS
        self._stats = stats
        self._stopping = stopping
        # Runs while a batch waits to be retried: control tasks (upkeep freeing
        # space, the pusher marking rows) must not starve behind a busy database.
        self._between_retries = between_retries
        # Runs once the rows are built, before they are bound and written: the writer
        # thread gives the GIL up there (see BatchWriter).
        self._before_insert = before_insert
        self._gave_up = False  # a batch was given up at shutdown
        self._sums = rollups.CallSums()
        self._fold_due = time.monotonic() + FOLD_INTERVAL_S

    def start(self) -> None:
        """Before the first batch: count the calls a writer that died left past the rollups' mark."""
        with immediate_transaction(self._conn):
            self._sums.start(self._conn)

    def fold_rollups(self, force: bool = False) -> None:
        """Add the calls summed since the last fold to the hourly rollups, once a second (``force``: now).

        A failure keeps the sums for the next fold: the calls stay past the mark
        meanwhile, where readers count them raw.
        """
        if not self._sums.calls or not (force or time.monotonic() >= self._fold_due):
            return
        self._fold_due = time.monotonic() + FOLD_INTERVAL_S
        try:
            with immediate_transaction(self._conn):
                calls = self._sums.fold(self._conn)
        except sqlite3.Error as exc:
            log.warning("adding %d calls to the hourly rollups failed, will retry: %s", self._sums.calls, exc)
            self._stats.count("rollups.failures")
            return
        self._sums.clear(self._conn)
        self._stats.count("rollups.folds")
        self._stats.count("rollups.calls", calls)

    def write(self, batch: list[Envelope]) -> None:
        """Commit or count every envelope of ``batch``; returns only when each is settled.

        Never raises: a bug in one part counts that part's unsettled events as
        ``write_error`` and leaves the other parts' accounting intact.
        """
        plain = [envelope for envelope in batch if envelope.kind != BUNDLE]
        if plain:
            pending, feeds = self._rows(plain)
            supersede = self._superseder.wanted(feeds, now_ms())
            self._guarded(lambda: self._with_retries(lambda: self._write_plain(pending), pending), pending)
            if supersede:
                self._superseder.run(self._conn, now_ms())
        for bundle in batch:
            if bundle.kind == BUNDLE:
                self._write_bundle(bundle)
        self.fold_rollups()

    def settle(self, batch: list[Envelope]) -> None:
        """``write``, behind one last net: a bug that escapes it counts the batch as ``write_error``."""
        try:
            self.write(batch)
        except Exception:  # a bug, not an expected failure: count, log, carry on
            log.exception("writer failed on a batch of %d envelopes", len(batch))
            for kind, count in inner_kinds(batch).items():
                self._stats.record_dropped(kind, "write_error", count)

    def _rows(self, envelopes: Sequence[Envelope]) -> tuple[dict[str, list[Row]], dict[str, dict[str, int]]]:
        """The batch's rows by kind, and how many of each kind came from each feed (counted here)."""
        rows = rows_by_kind(envelopes)
        feeds = feeds_by_kind(rows)
        self._stats.record_feeds(feed_totals(feeds), now_ms())
        if self._scrub_secrets and (redacted := scrub_rows(rows)):
            self._stats.count(REDACTED_COUNTER, redacted)
        self._before_insert()
        return rows, feeds

    def _write_bundle(self, bundle: Envelope) -> None:
        pending, _ = self._rows(bundle.values[0])
        statements: Sequence[Statement] = bundle.values[1]
        self._guarded(
            lambda: self._with_retries(lambda: self._bundle_transaction(pending, statements), pending), pending
        )

    def _guarded(self, action: Callable[[], None], pending: dict[str, list[Row]]) -> None:
        try:
            action()
        except Exception:  # a bug, not an expected failure: count what is unsettled, carry on
            log.exception("writer failed on %d events", _count(pending))
            for kind, rows in pending.items():
                self._stats.record_dropped(kind, "write_error", len(rows))
            pending.clear()

    def _with_retries(self, attempt: Callable[[], None], pending: dict[str, list[Row]]) -> None:
        tries = 0
        while True:
            try:
                attempt()
                self._stats.record_write_ok()
                return
            except DatabaseUnavailable as exc:
                self._stats.record_write_failure(str(exc), exc.db_error)
                # At shutdown each batch gets one round of retries; once one batch gave up,
                # the rest give up at their first failure, so the drain fits the deadline.
                if self._stopping.is_set() and (self._gave_up or tries >= len(RETRY_BACKOFF_S)):
                    self._gave_up = True
                    log.error("giving up on %d events at shutdown: %s", _count(pending), exc)
                    for kind, rows in pending.items():
                        self._stats.record_dropped(kind, "write_error", len(rows))
                    pending.clear()
                    return
                delay = RETRY_BACKOFF_S[min(tries, len(RETRY_BACKOFF_S) - 1)]
                log.warning("database unavailable, retrying in %.2fs: %s", delay, exc)
                tries += 1
                self._between_retries()
                self._stopping.wait(delay)  # a stop cuts the wait short

    def _write_plain(self, pending: dict[str, list[Row]]) -> None:
        """One autocommitted multi-row INSERT per kind; settled kinds leave ``pending``."""
        for kind in list(pending):
            rows = pending[kind]
            try:
                writes.insert_rows(self._conn, kind, rows)
            except Exception as exc:
                unavailable = classify(exc)
                if unavailable is not None:
                    raise unavailable from exc
                self._write_one_by_one(kind, pending)
            else:
                self._committed(kind, rows)
            del pending[kind]

    def _write_one_by_one(self, kind: str, pending: dict[str, list[Row]]) -> None:
        """Insert ``pending[kind]`` singly, counting refused rows; unwritten rows stay pending."""
        rows = pending[kind]
        while rows:
            try:
                writes.insert_rows(self._conn, kind, [rows[0]])
            except Exception as exc:
                unavailable = classify(exc)
                if unavailable is not None:
                    raise unavailable from exc
                log.warning("dropped a %s row the database refused: %s", kind, exc)
                self._stats.record_dropped(kind, "write_error", 1)
            else:
                self._committed(kind, rows[:1])
            rows.pop(0)

    def _committed(self, kind: str, rows: list[Row]) -> None:
        self._stats.record_written(kind, len(rows))
        if kind == "trace":
            self._sums.add(rows)

    def _bundle_transaction(self, pending: dict[str, list[Row]], statements: Sequence[Statement]) -> None:
        written: dict[str, list[Row]] = {}
        refused: dict[str, int] = {}
        try:
            with immediate_transaction(self._conn):
                for kind, rows in pending.items():
                    try:
                        writes.insert_rows(self._conn, kind, rows)
                        written[kind] = rows
                    except Exception as exc:
                        if classify(exc) is not None:
                            raise
                        written[kind], refused[kind] = self._insert_each(kind, rows)
                for sql, params in statements:
                    self._conn.execute(sql, params)
        except Exception as exc:
            unavailable = classify(exc)
            if unavailable is not None:
                raise unavailable from exc
            raise
        for kind, rows in written.items():
            self._committed(kind, rows)
        for kind, count in refused.items():
            log.warning("dropped %d %s rows the database refused", count, kind)
            self._stats.record_dropped(kind, "write_error", count)
        pending.clear()

    def _insert_each(self, kind: str, rows: list[Row]) -> tuple[list[Row], int]:
        """Inside an open transaction: insert rows singly (savepoints); (the rows written, how many refused)."""
        written: list[Row] = []
        refused = 0
        for row in rows:
            self._conn.execute("SAVEPOINT one_row")
            try:
                writes.insert_rows(self._conn, kind, [row])
            except Exception as exc:
                # A database-level failure (full, I/O) may have rolled the whole
                # transaction back, savepoint included: hand it on untouched, so the
                # bundle is retried instead of "no such savepoint" hiding it.
                if classify(exc) is not None:
                    raise
                self._conn.execute("ROLLBACK TO one_row")
                refused += 1
            else:
                written.append(row)
            self._conn.execute("RELEASE one_row")
        return written, refused


def _count(pending: dict[str, list[Row]]) -> int:
    return sum(len(rows) for rows in pending.values())
