"""``LogTailer``: the component that follows the gateway log and feeds the ingest queue.

Thread ``oct-tail`` reads complete lines (``tail.FileFollower``), parses and
classifies them (``parse``, ``classify``) and offers one BUNDLE envelope per
group of lines: the events of those lines plus the upsert of the read
position (``tail_positions``), which the single writer commits in one
transaction. So after any stop — graceful or ``kill -9`` — the stored
position and the stored events agree, and the next start neither loses nor
repeats a line of the followed file. Lines that give no event still move the
position (a bundle with only the upsert). Lines read beside it (a missed file,
the tail of a truncation copy) carry the followed file's position: a stop in
the middle of those loses their rest (never repeats it); see the README.

The queue is never a reason to drop: when ``offer_all`` refuses, the tailer
waits (on its stop Event) and offers the same bundle again; the file is the
buffer. A bundle not yet queued at stop is simply read again next start.

Thread-safety: ``start``/``stop``/``health`` may be called from any thread;
``stop`` is idempotent and returns whether the thread ended. After ``stop``
nothing more is offered.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from openclaw_trace.collectors.logs.classify import classify
from openclaw_trace.collectors.logs.parse import parse_line
from openclaw_trace.collectors.logs.tail import MAX_LINE_BYTES, Batch, FileFollower, Line, Position
from openclaw_trace.collectors.logs.trust import Trust
from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.model import Envelope, EventLimits
from openclaw_trace.pipeline.queue import BUNDLE, IngestQueue
from openclaw_trace.storage.connection import open_read_connection

log = logging.getLogger("openclaw_trace.tailer")

SOURCE = "openclaw-gateway-log"  # the tail_positions row of this tailer
DEFAULT_POLL_INTERVAL_S = 0.5
MAX_LINES_PER_BUNDLE = 500
MAX_EVENTS_PER_BUNDLE = 50
_RETRY_MAX_S = 0.5

UPSERT_POSITION = (
    "INSERT INTO tail_positions (source, file_path, device, inode, offset, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(source) DO UPDATE SET file_path = excluded.file_path, device = excluded.device, "
    "inode = excluded.inode, offset = excluded.offset, updated_at = excluded.updated_at"
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def load_position(db_path: str, source: str = SOURCE) -> Position | None:
    """The stored position of ``source``, read over a read-only connection."""
    conn = open_read_connection(db_path)
    try:
        row = conn.execute(
            "SELECT file_path, device, inode, offset, updated_at FROM tail_positions WHERE source = ?", (source,)
        ).fetchone()
    finally:
        conn.close()
    if row is None or row[1] is None or row[2] is None:
        return None
    return Position(str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))


class LogTailer(ThreadedPart):
    """Follows ``spec`` (file, directory, glob or ``auto``); see the module docstring."""

    name = "log_tailer"
    stop_after_drain = False

    def __init__(
        self,
        spec: str,
        queue: IngestQueue,
        db_path: str,
        limits: EventLimits,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        max_lines_per_bundle: int = MAX_LINES_PER_BUNDLE,
        max_events_per_bundle: int = MAX_EVENTS_PER_BUNDLE,
        max_line_bytes: int = MAX_LINE_BYTES,
        source: str = SOURCE,
        clock_ms: Callable[[], int] = _now_ms,
        trusted_owners: Iterable[int] = (),
    ) -> None:
        super().__init__("oct-tail")
        self._spec = spec
        self._queue = queue
        self._db_path = db_path
        self._limits = limits
        self._poll_s = poll_interval_s
        self._max_lines = max_lines_per_bundle
        self._max_events = max_events_per_bundle
        self._max_line_bytes = max_line_bytes
        self._source = source
        self._clock_ms = clock_ms
        self._trust = Trust(trusted_owners)  # kept across followers: a refusal is said once
        self._lock = threading.Lock()  # guards the counters below, read by health()
        self._queued: Position | None = None  # the position of the last bundle queued
        self._follower: FileFollower | None = None
        self._counts = {
            "lines_read": 0,
            "events_emitted": 0,
            "errors_emitted": 0,
            "gateway_events_emitted": 0,
            "lines_skipped": 0,  # read, counted, no event
            "lines_truncated": 0,
            "bundles_queued": 0,
            "queue_waits": 0,
            "loop_errors": 0,
        }
        self._last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------

    def health(self) -> dict[str, Any]:
        with self._lock:
            position = self._queued
            report: dict[str, Any] = {
                "path_setting": self._spec,
                "alive": self._thread.is_alive(),
                "file": position.file_path if position else None,
                "offset": position.offset if position else None,
                **self._counts,
                "last_error": self._last_error,
                # Files the trust checks refused (collectors/logs/trust.py); reading none of the
                # others because of them is worth a "degraded".
                "refused_paths": len(self._trust.refused),
                "last_refused": self._trust.last_refused,
                "degraded": position is None and self._trust.last_refused is not None,
            }
        follower = self._follower
        if follower is not None:
            report.update(
                files_opened=follower.files_opened,
                rotations=follower.rotations,
                truncations=follower.truncations,
                missed_files=follower.missed_files,
            )
        return report

    # -- the loop --------------------------------------------------------------

    def _run(self) -> None:
        start = self._initial_position()
        if start is False:
            return
        follower = self._new_follower(start if isinstance(start, Position) else None)
        try:
            while not self._stop.is_set():
                try:
                    batch = follower.read(self._max_lines)
                    if batch is None:
                        self._stop.wait(self._poll_s)
                    elif not self._emit(batch):
                        return  # stopped while waiting for the queue; read again next start
                except Exception as exc:  # a bug or an odd file: log, count, start over from what was queued
                    log.exception("log tailer failed; resuming from the last queued position")
                    with self._lock:
                        self._counts["loop_errors"] += 1
                        self._last_error = f"{type(exc).__name__}: {exc}"
                    follower.close()
                    follower = self._new_follower(self._queued)
                    self._stop.wait(self._poll_s)
        finally:
            follower.close()

    def _new_follower(self, start: Position | None) -> FileFollower:
        follower = FileFollower(self._spec, start, self._max_line_bytes, self._trust)
        self._follower = follower
        return follower

    def _initial_position(self) -> Position | bool | None:
        """The stored position (None: none stored); False when stopped before it could be read."""
        while not self._stop.is_set():
            try:
                position = load_position(self._db_path, self._source)
            except sqlite3.Error as exc:
                # Starting without the position would repeat lines: wait for the database instead.
                log.warning("cannot read the log tail position yet: %s", exc)
                with self._lock:
                    self._last_error = f"position: {exc}"
                self._stop.wait(max(self._poll_s, 0.5))
                continue
            with self._lock:
                self._queued = position
            return position
        return False

    def _emit(self, batch: Batch) -> bool:
        """Classify the batch's lines and queue them as bundles; False if stopped first."""
        now_ms = self._clock_ms()
        envelopes: list[Envelope] = []
        lines: list[Line] = []
        for line in batch.lines:
            event = classify(parse_line(line.text), now_ms, self._limits)
            lines.append(line)
            if event is not None:
                envelopes.append(event)
            if len(envelopes) >= self._max_events or len(lines) >= self._max_lines:
                if not self._queue_bundle(batch.position, lines, envelopes, now_ms):
                    return False
                envelopes, lines = [], []
        if lines or not batch.lines:
            return self._queue_bundle(batch.position, lines, envelopes, now_ms)
        return True

    def _queue_bundle(self, base: Position, lines: list[Line], envelopes: list[Envelope], now_ms: int) -> bool:
        offset = lines[-1].end_offset if lines else base.offset
        position = Position(base.file_path, base.device, base.inode, offset, now_ms)
        params = (self._source, position.file_path, position.device, position.inode, position.offset, now_ms)
        bundle = Envelope(BUNDLE, now_ms, (tuple(envelopes), ((UPSERT_POSITION, params),)))
        delay_s = 0.005
        while not self._queue.offer_all([bundle]):
            with self._lock:
                self._counts["queue_waits"] += 1
            if self._stop.wait(delay_s):
                return False
            delay_s = min(delay_s * 2, _RETRY_MAX_S)
        errors = sum(1 for envelope in envelopes if envelope.kind == "error")
        previous = self._queued
        if previous is None or (previous.device, previous.inode) != (position.device, position.inode):
            log.info("following %s", position.file_path, extra={"fields": {"offset": position.offset}})
        with self._lock:
            self._queued = position
            counts = self._counts
            counts["bundles_queued"] += 1
            counts["lines_read"] += len(lines)
            counts["events_emitted"] += len(envelopes)
            counts["errors_emitted"] += errors
            counts["gateway_events_emitted"] += len(envelopes) - errors
            counts["lines_skipped"] += len(lines) - len(envelopes)
            counts["lines_truncated"] += sum(1 for line in lines if line.truncated)
        return True
