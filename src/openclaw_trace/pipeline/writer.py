"""The single writer: the only thread that writes ingest rows to SQLite.

It takes batches from the ``IngestQueue`` (50 events or 500 ms), gives every
row a fresh UUID v4 ``trace_id`` and inserts each kind with one multi-row
statement. Failures are sorted into two kinds:

- the database cannot take writes right now (busy, locked, full, I/O):
  the batch is kept and retried with backoff, so nothing accepted is lost;
  meanwhile the queue fills and the door counts ``queue_full`` drops;
- a row the database refuses (constraint, too big, bad value): the batch is
  retried row by row, so one bad row never takes its neighbours down; the
  refused rows are counted as ``write_error`` drops.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict
from typing import Any

from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.ids import uuid4_strings
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats
from openclaw_trace.storage import writes

log = logging.getLogger("openclaw_trace.writer")

# SQLite primary result codes after which the same rows may well succeed later.
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_DB_UNWRITABLE_CODES = {7, 8, 10, 13, 14, 15}  # NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
RETRY_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

Row = tuple[Any, ...]


class DatabaseUnavailable(Exception):
    """Writing failed for reasons of the database, not of the rows."""

    def __init__(self, error: sqlite3.Error, db_error: bool) -> None:
        super().__init__(str(error))
        self.db_error = db_error


def _classify(exc: BaseException) -> DatabaseUnavailable | None:
    """A ``DatabaseUnavailable`` for database-level failures, None for row-level ones."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in _BUSY_CODES:
        return DatabaseUnavailable(exc, db_error=False)
    if code in _DB_UNWRITABLE_CODES:
        return DatabaseUnavailable(exc, db_error=True)
    return None


class BatchWriter:
    """Owns the write connection and the ``oct-writer`` thread.

    ``start`` once; ``flush`` waits for everything offered so far; ``stop``
    closes the queue, lets the thread drain it and joins. ``stop`` is
    idempotent. After ``stop`` the connection belongs to the caller again
    (for the final checkpoint and close).
    """

    def __init__(self, conn: sqlite3.Connection, queue: IngestQueue, stats: Stats) -> None:
        self._conn = conn
        self._queue = queue
        self._stats = stats
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oct-writer", daemon=True)

    def start(self) -> None:
        self._stats.set_unsynced(writes.count_unsynced(self._conn, list(writes.TABLES.values())))
        self._stats.set_writer_alive(True)
        self._thread.start()

    def flush(self, timeout_s: float) -> bool:
        return self._queue.flush(timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Drain and stop; True when the thread ended within ``timeout_s``."""
        self._queue.close()
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                batch = self._queue.take_batch()
                if not batch:
                    return
                try:
                    self._write_batch(batch)
                except Exception:  # a bug, not an expected failure: count, log, carry on
                    log.exception("writer failed on a batch of %d events", len(batch))
                    self._count_dropped(batch, "write_error")
                finally:
                    self._queue.done(len(batch))
        finally:
            self._stats.set_writer_alive(False)

    def _write_batch(self, batch: list[Envelope]) -> None:
        rows_by_kind: dict[str, list[Row]] = defaultdict(list)
        for trace_id, envelope in zip(uuid4_strings(len(batch)), batch, strict=True):
            rows_by_kind[envelope.kind].append((trace_id, envelope.created_at_ms, *envelope.values))
        attempt = 0
        while rows_by_kind:
            try:
                self._write_kinds(rows_by_kind)
                self._stats.record_write_ok()
                return
            except DatabaseUnavailable as exc:
                self._stats.record_write_failure(str(exc), exc.db_error)
                if self._stopping.is_set() and attempt >= len(RETRY_BACKOFF_S):
                    log.error("giving up on %d events at shutdown: %s", _count(rows_by_kind), exc)
                    for kind, rows in rows_by_kind.items():
                        self._stats.record_dropped(kind, "write_error", len(rows))
                    return
                delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
                log.warning("database unavailable, retrying in %.2fs: %s", delay, exc)
                attempt += 1
                time.sleep(delay)

    def _write_kinds(self, rows_by_kind: dict[str, list[Row]]) -> None:
        """Write and remove each kind's rows from ``rows_by_kind``; raises ``DatabaseUnavailable``.

        A kind's entry only ever holds rows not yet committed or counted, so
        a retry after a database failure never writes a row twice.
        """
        for kind in list(rows_by_kind):
            rows = rows_by_kind[kind]
            try:
                writes.insert_rows(self._conn, kind, rows)
            except Exception as exc:
                unavailable = _classify(exc)
                if unavailable is not None:
                    raise unavailable from exc
                try:
                    self._write_one_by_one(kind, rows)
                except _Partial as partial:
                    rows_by_kind[kind] = partial.remaining
                    raise
            else:
                self._stats.record_written(kind, len(rows))
            del rows_by_kind[kind]

    def _write_one_by_one(self, kind: str, rows: list[Row]) -> None:
        """Insert rows singly, counting the ones refused; ``_Partial`` on a db failure."""
        for index, row in enumerate(rows):
            try:
                writes.insert_rows(self._conn, kind, [row])
            except Exception as exc:
                unavailable = _classify(exc)
                if unavailable is not None:
                    raise _Partial(rows[index:], unavailable) from exc
                log.warning("dropped a %s row the database refused: %s", kind, exc)
                self._stats.record_dropped(kind, "write_error", 1)
            else:
                self._stats.record_written(kind, 1)

    def _count_dropped(self, batch: list[Envelope], reason: str) -> None:
        for envelope in batch:
            self._stats.record_dropped(envelope.kind, reason, 1)


class _Partial(DatabaseUnavailable):
    def __init__(self, remaining: list[Row], cause: DatabaseUnavailable) -> None:
        Exception.__init__(self, str(cause))
        self.db_error = cause.db_error
        self.remaining = remaining


def _count(rows_by_kind: dict[str, list[Row]]) -> int:
    return sum(len(rows) for rows in rows_by_kind.values())
