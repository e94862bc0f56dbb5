"""WAL checkpoints on their own thread, so they never stall the writer.

With SQLite's automatic checkpoint, every ~1000 pages one commit of the
writer copies the WAL back into the database and fsyncs it: measured here,
1 batch in ~48 took ~13 ms instead of 0.2 ms, long enough for the 512-slot
queue to overflow at 40k events/s. The writer's connection therefore runs
with ``wal_autocheckpoint=0`` and this thread checkpoints instead, with a
connection of its own. A PASSIVE checkpoint never waits for the writer and
never blocks it; it writes only pages, never rows, so the writer stays the
only writer of data.

Two more rules bound the WAL when PASSIVE is not enough:

- at least every ``interval_s`` (``OCT_WAL_CHECKPOINT_INTERVAL``) a PASSIVE
  checkpoint runs even if the WAL was not written since the last one (an
  earlier one may have stopped short at a reader's snapshot);
- a WAL file larger than ``restart_threshold_bytes``
  (``OCT_WAL_RESTART_THRESHOLD_BYTES``) is checkpointed with TRUNCATE: it
  waits for readers to leave the WAL and resets the file to zero bytes. The
  WAL never shrinks otherwise (SQLite reuses it from the top). TRUNCATE
  holds off the writer while it waits, so it waits at most
  ``RESTART_BUSY_TIMEOUT_MS`` and, when readers keep it busy, tries again
  ``restart_retry_s`` later instead of stalling ingest.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time

from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.storage.connection import BUSY_TIMEOUT_MS, wal_path
from openclaw_trace.storage.writes import checkpoint

log = logging.getLogger("openclaw_trace.checkpointer")

# The WAL file keeps its size after SQLite starts reusing it from the top,
# so growth is judged by its modification time: checkpoint whenever it was
# written since the last checkpoint and is past the size SQLite's default
# autocheckpoint allows (1000 pages of 4 KiB), or at least every few seconds.
PASSIVE_THRESHOLD_BYTES = 4 * 1024 * 1024
MAX_CHECKPOINT_AGE_S = 5.0
POLL_INTERVAL_S = 0.25
CHECKPOINT_INTERVAL_S = 600.0  # OCT_WAL_CHECKPOINT_INTERVAL's default
RESTART_THRESHOLD_BYTES = 50_000_000  # OCT_WAL_RESTART_THRESHOLD_BYTES's default
RESTART_BUSY_TIMEOUT_MS = 10  # the writer waits behind a pending TRUNCATE: keep that wait to a batch or so
RESTART_RETRY_S = 5.0


class WalCheckpointer(ThreadedPart):
    """Runs PASSIVE checkpoints on ``oct-checkpoint`` when the WAL grows, TRUNCATE when it is too large.

    ``start`` once; ``stop(timeout_s)`` is idempotent and closes the
    connection. Failures are logged and counted, never raised: the next
    poll tries again. The counters (``checkpoints``, ``truncates``,
    ``truncates_busy``, ``failures``) are written by the thread only and
    may be read from any thread; ``health`` returns them.
    """

    def __init__(
        self,
        db_path: str,
        threshold_bytes: int = PASSIVE_THRESHOLD_BYTES,
        poll_interval_s: float = POLL_INTERVAL_S,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        restart_threshold_bytes: int = RESTART_THRESHOLD_BYTES,
        restart_retry_s: float = RESTART_RETRY_S,
    ) -> None:
        super().__init__("oct-checkpoint")
        self._db_path = db_path
        self._wal_path = wal_path(db_path)
        self._threshold = threshold_bytes
        self._poll_s = poll_interval_s
        self._interval_s = interval_s
        self._restart_threshold = restart_threshold_bytes
        self._restart_retry_s = restart_retry_s
        self.checkpoints = 0  # PASSIVE ones
        self.truncates = 0  # TRUNCATE ones that completed
        self.truncates_busy = 0  # TRUNCATE ones that readers or the writer kept from completing
        self.failures = 0
        self.last_truncate_wal_bytes: int | None = None

    def health(self) -> dict[str, int | float | None]:
        return {
            "interval_s": self._interval_s,
            "restart_threshold_bytes": self._restart_threshold,
            "checkpoints": self.checkpoints,
            "truncates": self.truncates,
            "truncates_busy": self.truncates_busy,
            "failures": self.failures,
            "last_truncate_wal_bytes": self.last_truncate_wal_bytes,
        }

    def _run(self) -> None:
        conn = sqlite3.connect(self._db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            last_mtime_ns = 0
            last_at = time.monotonic()
            next_truncate_at = 0.0
            while not self._stop.wait(self._poll_s):
                try:
                    wal = os.stat(self._wal_path)
                except OSError:
                    continue
                now = time.monotonic()
                if wal.st_size > self._restart_threshold and now >= next_truncate_at:
                    if not self._truncate(conn, wal.st_size):
                        next_truncate_at = now + self._restart_retry_s
                    last_mtime_ns, last_at = wal.st_mtime_ns, now
                    continue
                due = now - last_at >= self._interval_s
                if wal.st_mtime_ns == last_mtime_ns and not due:
                    continue
                if not due and wal.st_size < self._threshold and now - last_at < MAX_CHECKPOINT_AGE_S:
                    continue
                last_mtime_ns, last_at = wal.st_mtime_ns, now
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            checkpoint(conn, "PASSIVE")
            self.checkpoints += 1
        except sqlite3.Error as exc:
            self.failures += 1
            log.warning("WAL checkpoint failed: %s", exc)

    def _truncate(self, conn: sqlite3.Connection, wal_bytes: int) -> bool:
        """TRUNCATE with a short busy wait; True when the WAL was reset."""
        conn.execute(f"PRAGMA busy_timeout={RESTART_BUSY_TIMEOUT_MS}")
        try:
            busy, _, _ = checkpoint(conn, "TRUNCATE")
        except sqlite3.OperationalError as exc:  # SQLITE_BUSY surfaces as an error on some paths
            busy = 1
            log.debug("WAL truncate busy: %s", exc)
        except sqlite3.Error as exc:
            self.failures += 1
            log.warning("WAL truncate failed: %s", exc)
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            self.truncates_busy += 1
            log.info("WAL over its threshold but readers keep it busy; retrying in %.1fs", self._restart_retry_s)
            return False
        self.truncates += 1
        self.last_truncate_wal_bytes = wal_bytes
        log.info("WAL truncated", extra={"fields": {"wal_bytes_before": wal_bytes}})
        return True
