"""WAL checkpoints on their own thread, finished between the writer's batches.

With SQLite's automatic checkpoint, every ~1000 pages one commit of the
writer copies the WAL back into the database and fsyncs it: measured here,
1 batch in ~48 took ~13 ms instead of 0.2 ms, long enough for the 512-slot
queue to overflow at 40k events/s. The writer's connection therefore runs
with ``wal_autocheckpoint=0`` and this thread checkpoints instead, with a
connection of its own. A PASSIVE checkpoint never waits for the writer and
never blocks it; it writes only pages, never rows, so the writer stays the
only writer of data.

Under sustained writes a checkpoint that runs beside the writer never
catches up: frames land while it copies, SQLite can restart the WAL from
the top only when every frame was copied, and so the file grows until the
TRUNCATE rule below stops the writer to reset it (measured: a 50-65 MB WAL
truncated every second at 45k events/s). So once the WAL holds 8 MiB,
after its passes this thread flushes the pages they copied and asks the
writer (``finish``) to run one more PASSIVE between two batches: it copies
only what arrived during the passes, nothing can land meanwhile, and the
writer's next commit starts the WAL from the top again.

A checkpoint is due when the WAL was written since the last one and either
``threshold_rows`` rows were committed since (``rows_written``, the writer's
count; about SQLite's default autocheckpoint size), or the WAL file grew
past ``threshold_bytes``, or the last checkpoint is ``MAX_CHECKPOINT_AGE_S``
old. The WAL file's size alone cannot tell once SQLite reuses it from the
top, and SQLite's own frame count lives in the ``-shm`` file, which this
process must not open and close: closing any descriptor of a file drops
every POSIX lock the process holds on it, SQLite's included. While the WAL
is being written it is looked at every ``BUSY_POLL_S``, else every
``poll_interval_s``.

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

import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import NamedTuple

from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.storage.connection import BUSY_TIMEOUT_MS, descriptors_open_on, wal_path
from openclaw_trace.storage.writes import checkpoint

log = logging.getLogger("openclaw_trace.checkpointer")

# What SQLite's default autocheckpoint allows (1000 pages of 4 KiB), in bytes of
# WAL file and in rows: a 1 KB event takes ~1.8 KB of WAL with its page overhead.
PASSIVE_THRESHOLD_BYTES = 4 * 1024 * 1024
PASSIVE_THRESHOLD_ROWS = 2000
MAX_CHECKPOINT_AGE_S = 5.0
POLL_INTERVAL_S = 0.25
# At 45k events/s ~80 MB/s reach the WAL: look often enough that one pass
# copies about the threshold, and the writer's share after it stays small.
BUSY_POLL_S = 0.05
# Catch-up passes before the writer's: stop once one copied at most a few batches' frames.
MAX_CATCH_UP_PASSES = 4
CATCH_UP_FRAMES = 64
CHECKPOINT_INTERVAL_S = 600.0  # OCT_WAL_CHECKPOINT_INTERVAL's default
RESTART_THRESHOLD_BYTES = 50_000_000  # OCT_WAL_RESTART_THRESHOLD_BYTES's default
RESTART_BUSY_TIMEOUT_MS = 10  # the writer waits behind a pending TRUNCATE: keep that wait to a batch or so
RESTART_RETRY_S = 5.0


# The writer is asked for its pass once the WAL holds MIN_FINISH_WAL_FRAMES (8 MiB of
# 4 KiB pages). It then waits while more than capacity / DEFER_DEPTH_DIVISOR events are
# queued, as long as the WAL holds fewer than MAX_DEFERRED_WAL_FRAMES (16 MiB, under the
# 50 MB TRUNCATE rule).
MIN_FINISH_WAL_FRAMES = 2048
DEFER_DEPTH_DIVISOR = 4
MAX_DEFERRED_WAL_FRAMES = 4096


def writer_pass_due(queue_depth: int, queue_capacity: int, wal_frames: int) -> bool:
    """Whether the writer should copy the WAL's last frames now, or leave them to a later pass.

    The writer's pass stops ingest for a few milliseconds (1–3 ms measured
    at 45k events/s, which fill the 512 slots in 11 ms). With the queue deep,
    that pause fills it: better let the WAL grow a little and restart after a
    later pass. Not forever: under a flood the queue is always deep, and a
    WAL that never restarts grows to the TRUNCATE rule, which stops the
    writer for longer.
    """
    return queue_depth <= queue_capacity // DEFER_DEPTH_DIVISOR or wal_frames >= MAX_DEFERRED_WAL_FRAMES


class _Mark(NamedTuple):
    """The WAL and the writer's row count at the last checkpoint."""

    mtime_ns: int
    size: int
    rows: int
    at: float


class WalCheckpointer(ThreadedPart):
    """Runs PASSIVE checkpoints on ``oct-checkpoint`` when the WAL grows, TRUNCATE when it is too large.

    ``start`` once; ``stop(timeout_s)`` is idempotent and closes the
    connection. Failures are logged and counted, never raised: the next
    poll tries again. The counters (``checkpoints``, ``finished_by_writer``,
    ``truncates``, ``truncates_busy``, ``failures``) are written by the thread only and
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
        finish: Callable[[int], bool] | None = None,
        pass_due: Callable[[int], bool] | None = None,
        rows_written: Callable[[], int] | None = None,
        threshold_rows: int = PASSIVE_THRESHOLD_ROWS,
        busy_poll_s: float = BUSY_POLL_S,
    ) -> None:
        super().__init__("oct-checkpoint")
        self._db_path = db_path
        self._wal_path = wal_path(db_path)
        # Given the WAL's frames, runs a PASSIVE checkpoint on the writer thread between
        # batches; True if it ran (False: the writer stopped, did not get to it in time,
        # or found its queue too deep by then).
        self._finish = finish
        # Given the WAL's frames, whether the writer's pass should run now (the daemon asks
        # about its queue); None: always. Asked before the flush, so a declined pass costs none.
        self._pass_due = pass_due
        self._rows_written = rows_written
        self._threshold_rows = threshold_rows
        self._busy_poll_s = min(busy_poll_s, poll_interval_s)
        self._threshold = threshold_bytes
        self._poll_s = poll_interval_s
        self._interval_s = interval_s
        self._restart_threshold = restart_threshold_bytes
        self._restart_retry_s = restart_retry_s
        self.checkpoints = 0  # PASSIVE ones
        self.finished_by_writer = 0  # passes the writer completed so that the WAL could restart
        self.truncates = 0  # TRUNCATE ones that completed
        self.truncates_busy = 0  # TRUNCATE ones that readers or the writer kept from completing
        self.failures = 0
        self.last_truncate_wal_bytes: int | None = None
        self._db_fd: int | None = None  # this thread's connection's descriptor on the database; never closed here

    def health(self) -> dict[str, int | float | None]:
        return {
            "interval_s": self._interval_s,
            "restart_threshold_bytes": self._restart_threshold,
            "checkpoints": self.checkpoints,
            "finished_by_writer": self.finished_by_writer,
            "truncates": self.truncates,
            "truncates_busy": self.truncates_busy,
            "failures": self.failures,
            "last_truncate_wal_bytes": self.last_truncate_wal_bytes,
        }

    def _run(self) -> None:
        before = descriptors_open_on(self._db_path)
        conn = sqlite3.connect(self._db_path, isolation_level=None, check_same_thread=False)
        # This connection's own descriptor, for _sync_database_file. Only ours will do: a
        # write error is reported once per open file, and taking that report from the
        # writer's would let its next checkpoint succeed over pages that never reached
        # the disk. Unsure (another connection opened meanwhile): no extra flush.
        opened = descriptors_open_on(self._db_path) - before
        self._db_fd = opened.pop() if len(opened) == 1 else None
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            last = _Mark(mtime_ns=0, size=0, rows=self._rows(), at=time.monotonic())
            polled_mtime_ns = 0
            next_truncate_at = 0.0
            wait_s = self._poll_s
            while not self._stop.wait(wait_s):
                try:
                    wal = os.stat(self._wal_path)
                except OSError:
                    continue
                wait_s = self._busy_poll_s if wal.st_mtime_ns != polled_mtime_ns else self._poll_s
                polled_mtime_ns = wal.st_mtime_ns
                now = time.monotonic()
                if wal.st_size > self._restart_threshold and now >= next_truncate_at:
                    if not self._truncate(conn, wal.st_size):
                        next_truncate_at = now + self._restart_retry_s
                    last = _Mark(wal.st_mtime_ns, wal.st_size, self._rows(), now)
                    continue
                if self._due(last, wal, now):
                    last = _Mark(wal.st_mtime_ns, wal.st_size, self._rows(), now)
                    self._checkpoint(conn, wal.st_mtime_ns)
        finally:
            conn.close()

    def _rows(self) -> int:
        return self._rows_written() if self._rows_written is not None else 0

    def _due(self, last: _Mark, wal: os.stat_result, now: float) -> bool:
        if now - last.at >= self._interval_s:
            return True
        if wal.st_mtime_ns == last.mtime_ns:
            return False
        return (
            now - last.at >= MAX_CHECKPOINT_AGE_S
            or wal.st_size - last.size >= self._threshold
            or self._rows() - last.rows >= self._threshold_rows
            # Without the writer's count (a bare connection writing), a WAL that SQLite
            # reuses from the top no longer grows: judge by its size instead.
            or (self._rows_written is None and wal.st_size >= self._threshold)
        )

    def _checkpoint(self, conn: sqlite3.Connection, mtime_ns_before: int) -> None:
        """PASSIVE passes until what lands during one is small, then the writer's pass.

        A pass copies up to the last frame it saw at its start, and its cost (and
        the cost of its two fsyncs) grows with what it copies. Frames land while it
        runs; the next pass copies those. Once a pass had little to copy, what
        landed during it is little too, and the writer, which must stop writing
        while it copies the rest, is held up for about a batch instead of ~12 ms
        (measured at 45k events/s with a single pass before the writer's).
        """
        previous_frames: int | None = None
        for _ in range(MAX_CATCH_UP_PASSES):
            try:
                _, frames, copied = checkpoint(conn, "PASSIVE")
                self.checkpoints += 1
            except sqlite3.Error as exc:
                self.failures += 1
                log.warning("WAL checkpoint failed: %s", exc)
                return
            if frames > copied:  # a reader's snapshot holds the copy back: the writer could not do better
                return
            if previous_frames is not None and frames - previous_frames <= CATCH_UP_FRAMES:
                break  # little landed during the last pass (or the WAL restarted: fewer frames)
            previous_frames = frames
        if self._finish is None:
            return
        try:
            landed = os.stat(self._wal_path).st_mtime_ns != mtime_ns_before
        except OSError:
            return
        # Frames landed since: let the writer copy them while nothing can land, so that
        # its next commit restarts the WAL from the top. Only once the WAL is worth
        # restarting: the catch-up passes copy the rest without stopping anyone, and
        # each pause of the writer is a chance for the queue to fill (at 45k events/s
        # this made 6-7 pauses a second instead of 11). A WAL that stops growing restarts
        # by itself: once writes pause, a pass completes with nothing landing meanwhile.
        # One that keeps growing reaches the threshold, and the writer's pass restarts it.
        if not landed or frames < MIN_FINISH_WAL_FRAMES:
            return
        if self._pass_due is not None and not self._pass_due(frames):
            return
        if self._sync_database_file() and self._finish(frames):
            self.finished_by_writer += 1

    def _sync_database_file(self) -> bool:
        """Flush the pages the catch-up passes copied, before the writer's pass; False on a write error.

        A pass that stops short of the WAL's end (frames landed meanwhile)
        copies pages without an fsync; the pass that completes, the writer's,
        then flushes them all. Measured at 45k events/s: that made the
        writer's pass 10–27 ms, and every queue_full drop of the run fell in
        one; synced here first, its pass took 1.2–1.4 ms (median), at most
        3 ms. It only adds an fsync. On a write error the writer's pass is
        skipped, so the WAL keeps the frames; the writer's own fsync sees
        the error too (it is reported to each open file) and says so.
        """
        if self._db_fd is None:
            return True  # no descriptor of our own: the writer's pass flushes, as it always did
        try:
            os.fdatasync(self._db_fd)
        except OSError as exc:
            if exc.errno == errno.EBADF:  # not open any more: no flush of ours from now on
                log.warning("the checkpointer's database descriptor is gone; the writer's pass flushes")
                self._db_fd = None
                return True
            self.failures += 1
            log.error("flushing the database file failed: %s", exc)
            return False
        return True

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
