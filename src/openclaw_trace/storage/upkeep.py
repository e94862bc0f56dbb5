"""Storage upkeep: retention, volume-aware cleanup and incremental vacuum.

Every ``interval_s`` one cycle runs on ``oct-upkeep``:

1. **Retention.** Rows older than ``retention_days`` are deleted from every
   data table, pushed or not (and ``push_log`` entries as old).
2. **Space.** When the database's live pages pass ``db_threshold_bytes``
   or its volume is fuller than ``disk_threshold_percent``, the oldest
   rows **already pushed** are deleted first, oldest across all tables,
   in chunks, re-measuring after each, until the database is back under
   90 % of its threshold and the volume under its threshold. Rows not yet
   pushed are deleted only as a last resort: when the database is still
   over its threshold with no pushed rows left (with push off or failing,
   nothing else would bound it), or when the volume passes
   ``disk_last_resort_percent`` — the sidecar gives its space back before
   the agent it watches runs out.
3. **Vacuum.** Free pages are returned to the volume with
   ``PRAGMA incremental_vacuum`` in steps, then a PASSIVE checkpoint lets
   the database file shrink.

Every delete, vacuum and checkpoint runs through ``writer.call`` on the one
write connection, in chunks, so the writer keeps writing batches between
them. Every deletion is counted in ``Stats`` (``upkeep.deleted.*``,
unpushed ones also leave ``unsynced_count``) and shown in ``/health``
under ``upkeep``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from openclaw_trace.lifecycle import PeriodicPart
from openclaw_trace.stats import Stats
from openclaw_trace.storage import rollups
from openclaw_trace.storage.connection import file_size
from openclaw_trace.storage.schema import DATA_TABLES
from openclaw_trace.storage.writes import checkpoint

log = logging.getLogger("openclaw_trace.upkeep")

T = TypeVar("T")
DAY_MS = 86_400_000
DELETE_CHUNK_ROWS = 1000  # one writer call: a few ms, so ingest batches keep flowing between chunks
VACUUM_STEP_PAGES = 1024  # 4 MiB of 4 KiB pages per writer call
DB_TARGET_SHARE = 0.9  # once over the size threshold, delete down to 90 % of it: not a few rows every cycle
DISK_LAST_RESORT_PERCENT = 98.0
FIRST_RUN_DELAY_S = 5.0
DELETION_REASONS = ("retention_pushed", "retention_unpushed", "space_pushed", "space_unpushed", "push_log", "rollups")


class WriterCalls(Protocol):
    """What upkeep needs of the writer (``pipeline.writer.BatchWriter``)."""

    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = ..., *, transaction: bool = ...) -> T: ...


class CheckpointerHealth(Protocol):
    def health(self) -> dict[str, Any]: ...


def volume_percent(path: str) -> float:
    """How full the volume holding ``path`` is, as ``df`` shows it (space reserved for root excluded)."""
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    st = os.statvfs(directory)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = used + st.f_bavail * st.f_frsize
    return used / usable * 100.0 if usable else 0.0


# -- SQL run on the writer's connection ------------------------------------------


def live_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in pages that hold data (the file size minus its free list)."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def delete_older_than(conn: sqlite3.Connection, cutoff_ms: int, synced: int, limit: int) -> int:
    """Delete up to ``limit`` rows per table with ``synced`` created before ``cutoff_ms``; the count."""
    deleted = 0
    for table in DATA_TABLES:
        cursor = conn.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE synced = ? AND created_at < ? LIMIT ?)",
            (synced, cutoff_ms, limit),
        )
        deleted += max(0, cursor.rowcount)
    return deleted


def delete_oldest(conn: sqlite3.Connection, synced: int, limit: int) -> int:
    """Delete about the ``limit`` oldest rows with ``synced`` across all data tables; the count.

    The cut is the ``limit``-th oldest ``created_at`` over all tables (each
    read through its ``(synced, created_at)`` index), so rows sharing that
    millisecond go together.
    """
    times: list[int] = []
    for table in DATA_TABLES:
        times += [
            int(row[0])
            for row in conn.execute(
                f"SELECT created_at FROM {table} WHERE synced = ? ORDER BY created_at LIMIT ?", (synced, limit)
            )
        ]
    if not times:
        return 0
    times.sort()
    cutoff = times[min(limit, len(times)) - 1]
    deleted = 0
    for table in DATA_TABLES:
        cursor = conn.execute(f"DELETE FROM {table} WHERE synced = ? AND created_at <= ?", (synced, cutoff))
        deleted += max(0, cursor.rowcount)
    return deleted


def delete_push_log_before(conn: sqlite3.Connection, cutoff_ms: int) -> int:
    """Delete the push cycles and the ingest books recorded before ``cutoff_ms``; the count."""
    deleted = conn.execute("DELETE FROM push_log WHERE started_at < ?", (cutoff_ms,)).rowcount
    deleted += conn.execute("DELETE FROM ingest_books WHERE at < ?", (cutoff_ms,)).rowcount
    return max(0, deleted)


def delete_rollups_before(conn: sqlite3.Connection, cutoff_ms: int) -> int:
    """Delete the hourly rollups of hours before ``cutoff_ms`` (their own, longer retention); the count."""
    return sum(max(0, conn.execute(sql, params).rowcount) for sql, params in rollups.delete_before(cutoff_ms))


def vacuum_step(conn: sqlite3.Connection, pages: int) -> int:
    """Return up to ``pages`` free pages to the file system; the free pages left.

    ``executescript`` steps the PRAGMA to completion; ``execute`` would free
    one page per call.
    """
    conn.executescript(f"PRAGMA incremental_vacuum({int(pages)})")
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


# -- the component ---------------------------------------------------------------


@dataclasses.dataclass
class CycleReport:
    """What one cycle did and saw."""

    at_ms: int
    deleted: dict[str, int]
    db_live_bytes: int
    db_file_bytes: int
    disk_percent: float | None
    over_db_threshold: bool
    over_disk_threshold: bool
    vacuumed_pages: int
    duration_ms: int = 0


class StorageUpkeep(PeriodicPart):
    """Runs the upkeep cycle on ``oct-upkeep``; ``run_once`` runs one on the caller's thread.

    ``start`` once; ``stop(timeout_s)`` is idempotent and ends the loop
    between two writer calls. Cycles never overlap (one lock). A failing
    cycle is logged and counted (``upkeep.failures``) and the next one
    tries again. ``health`` may be called from any thread.
    """

    name = "upkeep"
    failure_message = "storage upkeep failed"
    logger = log
    stop_after_drain = False

    def __init__(
        self,
        writer: WriterCalls,
        stats: Stats,
        db_path: str,
        interval_s: float,
        retention_days: int,
        db_threshold_bytes: int,
        disk_threshold_percent: float,
        rollup_retention_days: int = 400,
        disk_last_resort_percent: float = DISK_LAST_RESORT_PERCENT,
        disk_percent: Callable[[str], float] = volume_percent,
        checkpointer: CheckpointerHealth | None = None,
        first_run_delay_s: float = FIRST_RUN_DELAY_S,
        chunk_rows: int = DELETE_CHUNK_ROWS,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        super().__init__("oct-upkeep", stats, interval_s, first_run_delay_s)
        self._writer = writer
        self._stats = stats
        self._db_path = db_path
        self._retention_ms = retention_days * DAY_MS
        self._rollup_retention_ms = rollup_retention_days * DAY_MS
        self._db_threshold = db_threshold_bytes
        self._disk_threshold = disk_threshold_percent
        self._disk_last_resort = max(disk_last_resort_percent, disk_threshold_percent)
        self._disk_percent = disk_percent
        self._checkpointer = checkpointer
        self._chunk = chunk_rows
        self._clock_ms = clock_ms
        self._cycle_lock = threading.Lock()
        self._lock = threading.Lock()  # guards the figures below
        self._totals = dict.fromkeys(DELETION_REASONS, 0)
        self._cycles = 0
        self._last: CycleReport | None = None

    def health(self) -> dict[str, Any]:
        report = self.loop_health()
        with self._lock:
            report |= {
                "cycles": self._cycles,
                "deleted": dict(self._totals),
                "last_cycle": dataclasses.asdict(self._last) if self._last is not None else None,
            }
        if self._checkpointer is not None:
            report["wal"] = self._checkpointer.health()
        return report

    def tick(self) -> None:
        self.run_once()

    # -- one cycle ---------------------------------------------------------

    def run_once(self) -> CycleReport:
        """One full cycle; blocks for its writer calls. Raises what a writer call raised."""
        with self._cycle_lock:
            started = time.monotonic()
            deleted = dict.fromkeys(DELETION_REASONS, 0)
            try:
                report = self._cycle(deleted)
            finally:
                self._account(deleted)
            report.duration_ms = int((time.monotonic() - started) * 1000)
            with self._lock:
                self._cycles += 1
                self._last = report
            if any(deleted.values()):
                log.info("storage upkeep deleted rows", extra={"fields": dataclasses.asdict(report)})
            return report

    def _cycle(self, deleted: dict[str, int]) -> CycleReport:
        now_ms = self._clock_ms()
        cutoff = now_ms - self._retention_ms
        for synced, reason in ((0, "retention_unpushed"), (1, "retention_pushed")):
            # Control calls are plain functions with their arguments bound, never
            # closures: the writer may run them in another process (pickled).
            expire = functools.partial(delete_older_than, cutoff_ms=cutoff, synced=synced, limit=self._chunk)
            while not self._stop.is_set():
                count = self._writer.call(expire)
                deleted[reason] += count
                if count == 0:
                    break
        deleted["push_log"] += self._writer.call(functools.partial(delete_push_log_before, cutoff_ms=cutoff))
        rollup_cutoff = now_ms - self._rollup_retention_ms
        deleted["rollups"] += self._writer.call(functools.partial(delete_rollups_before, cutoff_ms=rollup_cutoff))

        live = self._writer.call(live_bytes, transaction=False)
        disk = self._measure_disk()
        over_db = live > self._db_threshold
        over_disk = disk is not None and disk > self._disk_threshold
        vacuumed = 0
        if over_db or over_disk:
            log.warning(
                "storage over its threshold; deleting the oldest pushed rows",
                extra={"fields": {"db_live_bytes": live, "disk_percent": disk}},
            )
            target = int(self._db_threshold * DB_TARGET_SHARE) if over_db else self._db_threshold
            # Pushed rows first, while either threshold is passed.
            live, disk, freed = self._trim(1, "space_pushed", deleted, target, self._disk_threshold)
            vacuumed += freed
            # Unpushed rows only as a last resort.
            if live > target or (disk is not None and disk >= self._disk_last_resort):
                log.warning(
                    "no pushed rows left to delete; deleting the oldest unpushed rows",
                    extra={"fields": {"db_live_bytes": live, "disk_percent": disk}},
                )
                live, disk, freed = self._trim(0, "space_unpushed", deleted, target, self._disk_last_resort)
                vacuumed += freed
        vacuumed += self._vacuum()
        return CycleReport(
            at_ms=now_ms,
            deleted=deleted,
            db_live_bytes=live,
            db_file_bytes=file_size(self._db_path),
            disk_percent=round(disk, 2) if disk is not None else None,
            over_db_threshold=over_db,
            over_disk_threshold=over_disk,
            vacuumed_pages=vacuumed,
        )

    def _trim(
        self, synced: int, reason: str, deleted: dict[str, int], db_target: int, disk_limit: float
    ) -> tuple[int, float | None, int]:
        """Delete the oldest rows with ``synced`` until under both limits or none are left.

        The volume only sees deleted rows once their pages are vacuumed, so
        while the disk is the reason each chunk is vacuumed and re-measured.
        Returns (live bytes, disk %, pages vacuumed).
        """
        live = self._writer.call(live_bytes, transaction=False)
        disk = self._measure_disk()
        vacuumed = 0
        while not self._stop.is_set():
            disk_over = disk is not None and disk > disk_limit
            if live <= db_target and not disk_over:
                break
            count = self._writer.call(functools.partial(delete_oldest, synced=synced, limit=self._chunk))
            deleted[reason] += count
            if count == 0:
                break
            if disk_over:
                vacuumed += self._vacuum()
                disk = self._measure_disk()
            live = self._writer.call(live_bytes, transaction=False)
        return live, disk, vacuumed

    def _vacuum(self) -> int:
        """Free every free page, a step per writer call, then checkpoint so the file shrinks."""
        freed = 0
        remaining = self._writer.call(_freelist, transaction=False)
        while remaining > 0 and not self._stop.is_set():
            left = self._writer.call(functools.partial(vacuum_step, pages=VACUUM_STEP_PAGES), transaction=False)
            freed += remaining - left
            if left >= remaining:
                break  # nothing more could be freed (should not happen): do not spin
            remaining = left
        if freed:
            # Truncating pages happens in the WAL; the file itself shrinks when they are checkpointed.
            self._writer.call(functools.partial(checkpoint, mode="PASSIVE"), transaction=False)
        return freed

    def _measure_disk(self) -> float | None:
        try:
            return float(self._disk_percent(self._db_path))
        except OSError as exc:
            log.warning("cannot measure the database's volume: %s", exc)
            return None

    def _account(self, deleted: dict[str, int]) -> None:
        unpushed = deleted["retention_unpushed"] + deleted["space_unpushed"]
        if unpushed:
            self._stats.add_unsynced(-unpushed)
        for reason, count in deleted.items():
            if count:
                self._stats.count(f"upkeep.deleted.{reason}", count)
        with self._lock:
            for reason, count in deleted.items():
                self._totals[reason] += count


def _freelist(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0])
