"""WAL checkpoints on their own thread, so they never stall the writer.

With SQLite's automatic checkpoint, every ~1000 pages one commit of the
writer copies the WAL back into the database and fsyncs it: measured here,
1 batch in ~48 took ~13 ms instead of 0.2 ms, long enough for the 512-slot
queue to overflow at 40k events/s. The writer's connection therefore runs
with ``wal_autocheckpoint=0`` and this thread checkpoints instead, with a
connection of its own. A PASSIVE checkpoint never waits for the writer and
never blocks it; it writes only pages, never rows, so the writer stays the
only writer of data.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

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


class WalCheckpointer:
    """Runs PASSIVE checkpoints on ``oct-checkpoint`` when the WAL grows.

    ``start`` once; ``stop(timeout_s)`` is idempotent and closes the
    connection. Failures are logged and counted, never raised: the next
    poll tries again.
    """

    def __init__(
        self,
        db_path: str,
        threshold_bytes: int = PASSIVE_THRESHOLD_BYTES,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._db_path = db_path
        self._wal_path = wal_path(db_path)
        self._threshold = threshold_bytes
        self._poll_s = poll_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oct-checkpoint", daemon=True)
        self.checkpoints = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        conn = sqlite3.connect(self._db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            last_mtime_ns = 0
            last_at = time.monotonic()
            while not self._stop.wait(self._poll_s):
                try:
                    wal = os.stat(self._wal_path)
                except OSError:
                    continue
                if wal.st_mtime_ns == last_mtime_ns:
                    continue
                if wal.st_size < self._threshold and time.monotonic() - last_at < MAX_CHECKPOINT_AGE_S:
                    continue
                last_mtime_ns, last_at = wal.st_mtime_ns, time.monotonic()
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
