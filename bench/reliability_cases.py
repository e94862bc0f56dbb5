"""The ingest core's rows of ../shared/RELIABILITY.md, each at its full size.

Every case starts the real daemon (``python -m openclaw_trace serve``) on a
database of its own, loads it over loopback with ``reliability_load``, and
checks the accounting promise against three independent records: what the
daemon's 202 bodies said, what its ``stopped`` log line says, and the rows
in the file. A case returns a ``Result``: the figures its row asks for and
the problems found (none: pass). ``scale`` shortens every duration and run
count for a smoke run; the figures of record use 1.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import payloads
from bench.procs import ServerProcess, free_port, process_tree
from bench.reliability_load import Sender, Tally, start_senders, stop_senders
from openclaw_trace.storage.checkpointer import RESTART_THRESHOLD_BYTES
from openclaw_trace.storage.writes import TABLES

QUEUE_CAPACITY = 512
STOP_LIMIT_S = 15.0  # the spec's graceful-stop deadline
WAL_SHRINK_LIMIT_S = 60.0  # after a long reader: a TRUNCATE retry every 5 s, and copying ~300 MB back
TRACE = payloads.single_event_body()
TRACES_10 = payloads.batch_body(10)
ERROR = json.dumps({"error_type": "crash", "message": "reliability run", "severity": "error"}).encode()
# The steady mix: single traces, arrays of 10, errors. 1,300 events/s, far below capacity.
STEADY = [("/v1/traces", TRACE, 400.0), ("/v1/traces", TRACE, 400.0), ("/v1/traces", TRACES_10, 40.0)]
STEADY += [("/v1/errors", ERROR, 100.0)]


@dataclass
class Result:
    name: str
    runs: int
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


class Daemon:
    """The real daemon on ``db_path``, its log in ``work_dir``."""

    def __init__(self, work_dir: Path, db_path: Path, tag: str, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("OCT_")}
        env.update(OCT_PORT=str(self.port), OCT_DB_PATH=str(db_path), OCT_LOG_LEVEL="info", **(extra_env or {}))
        argv = [sys.executable, "-m", "openclaw_trace", "serve"]
        self.server = ServerProcess(argv, env, self.port, work_dir / f"{tag}.log", cpus=None)
        _started_daemons.append(self)
        self.server.wait_ready()

    def stop(self) -> tuple[int, float]:
        """SIGTERM and wait; (exit code, seconds from the signal to the exit)."""
        started = time.monotonic()
        code = self.server.stop(timeout_s=STOP_LIMIT_S * 4)
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.server.signal(signal.SIGKILL)
        self.server.stop(timeout_s=10)

    def stopped_line(self) -> dict[str, Any] | None:
        lines = [r for r in self.server.log_records() if r.get("msg") == "openclaw-trace stopped"]
        return lines[-1] if lines else None


_started_daemons: list[Daemon] = []
_started_senders: list[Sender] = []


def load(port: int, plan: Sequence[tuple[str, bytes, float]], limit: int | None = None) -> list[Sender]:
    """``start_senders``, remembered so that ``stop_everything`` can halt them."""
    senders = start_senders(port, plan, limit)
    _started_senders.extend(senders)
    return senders


def stop_everything() -> None:
    """After each case, and whatever became of it: halt its senders, stop (or kill) its daemons."""
    stop_senders(_started_senders)
    for daemon in _started_daemons:
        daemon.server.stop(timeout_s=STOP_LIMIT_S * 4)  # does nothing to one already stopped
    _started_senders.clear()
    _started_daemons.clear()


def stored_rows(db_path: Path) -> int:
    """Rows over every table the writer fills, read on a connection of our own."""
    conn = sqlite3.connect(db_path)
    try:
        known = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES.values() if t in known)
    finally:
        conn.close()


def committed_rows(db_path: Path) -> dict[str, tuple[int, int]]:
    """Per table: (highest id, row count), as a reader of our own sees them right now."""
    conn = sqlite3.connect(db_path)
    try:
        known = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("BEGIN")  # one snapshot for all tables
        return {
            table: tuple(conn.execute(f"SELECT coalesce(max(id), 0), count(*) FROM {table}").fetchone())
            for table in TABLES.values()
            if table in known
        }
    finally:
        conn.close()


def rows_up_to(db_path: Path, table: str, max_id: int) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE id <= ?", (max_id,)).fetchone()[0])
    finally:
        conn.close()


def sent_kinds_rows(db_path: Path) -> int:
    """Rows of the two kinds the senders post (the total also holds the host metrics' rows)."""
    conn = sqlite3.connect(db_path)
    try:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("llm_traces", "error_events"))
    finally:
        conn.close()


def integrity(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def drops_of(line: dict[str, Any] | None) -> dict[str, int]:
    """The stop line's drops by reason, the reasons with none left out."""
    return {reason: n for reason, n in (line or {}).get("dropped_by_reason", {}).items() if n}


def check_books(
    result: Result, tag: str, line: dict[str, Any] | None, db_path: Path, tally: Tally, deleted: int = 0
) -> None:
    """The stop line balances, the file holds what it says, and every queued event is in the file.

    ``deleted``: rows upkeep deleted meanwhile (retention, the size limit), which left the file.
    """
    rows = stored_rows(db_path) + deleted
    if line is None:
        result.problems.append(f"{tag}: no 'openclaw-trace stopped' line")
        return
    if line["events_received"] != line["events_written"] + line["events_dropped"]:
        result.problems.append(f"{tag}: received {line['events_received']} != written + dropped")
    if rows != line["events_written"]:
        written = line["events_written"]
        result.problems.append(f"{tag}: {rows} rows stored or deleted, the daemon says {written} written")
    if tally.queued > (sent := sent_kinds_rows(db_path) + deleted):
        result.problems.append(f"{tag}: {tally.queued} events answered as queued, only {sent} stored")


def _common(result: Result, db_path: Path, code: int) -> None:
    if code != 0:
        result.problems.append(f"exit code {code}")
    if (verdict := integrity(db_path)) != "ok":
        result.problems.append(f"integrity_check: {verdict}")


def sustained(work_dir: Path, scale: float) -> Result:
    """A steady rate for 60 s, then SIGTERM: counts balance, 0 drops below capacity."""
    result = Result("sustained load", 1)
    db = work_dir / "sustained.db"
    daemon = Daemon(work_dir, db, "sustained")
    senders = load(daemon.port, STEADY)
    time.sleep(60 * scale)
    tally = stop_senders(senders)
    code, _ = daemon.stop()
    line = daemon.stopped_line()
    check_books(result, "sustained", line, db, tally)
    _common(result, db, code)
    if tally.answered != tally.requests or tally.statuses.get(202, 0) != tally.requests:
        result.problems.append(f"answers: {dict(tally.statuses)} of {tally.requests} requests")
    if drops_of(line):
        result.problems.append(f"dropped below capacity: {drops_of(line)}")
    result.figures = {
        "events sent": tally.received,
        "requests": tally.requests,
        "answered 202": tally.statuses.get(202, 0),
        "stored": sent_kinds_rows(db),
        "host-metric rows besides": stored_rows(db) - sent_kinds_rows(db),
        "drops": drops_of(line) or 0,
        "p99 ms (Python client)": round(tally.p99_ms() or 0, 2),
        "peak RSS MB": round(daemon.server.sampler.peak_bytes / 2**20, 1),
    }
    return result


def burst(work_dir: Path, scale: float) -> Result:
    """5,000 single events in 1 s: every one answered 202, counts balance."""
    result = Result("burst", 1)
    db = work_dir / "burst.db"
    daemon = Daemon(work_dir, db, "burst")
    per_sender = max(1, int(1000 * scale))
    senders = load(daemon.port, [("/v1/traces", TRACE, 1000.0)] * 5, limit=per_sender)
    for sender in senders:
        sender.join()
    tally = stop_senders(senders)
    code, _ = daemon.stop()
    line = daemon.stopped_line()
    check_books(result, "burst", line, db, tally)
    _common(result, db, code)
    if tally.statuses.get(202, 0) != 5 * per_sender:
        result.problems.append(f"answers: {dict(tally.statuses)} of {5 * per_sender} requests")
    result.figures = {
        "events sent": 5 * per_sender,
        "answered 202": tally.statuses.get(202, 0),
        "queue_full drops": drops_of(line).get("queue_full", 0),
        "stored": sent_kinds_rows(db),
    }
    return result


def graceful_stops(work_dir: Path, scale: float, rng: random.Random) -> Result:
    """SIGTERM at a random moment under load, 20 times: 0 accepted lost, stop ≤ 15 s, integrity ok."""
    runs = max(1, round(20 * scale))
    result = Result("graceful stop", runs)
    accepted = stored = shutdown_drops = unanswered = 0
    slowest = 0.0
    for run in range(runs):
        db = work_dir / f"stop-{run}.db"
        daemon = Daemon(work_dir, db, f"stop-{run}")
        senders = load(daemon.port, STEADY)
        time.sleep(rng.uniform(0.2, 2.0))
        code, stop_s = daemon.stop()  # the senders keep going into the stop
        tally = stop_senders(senders)
        line = daemon.stopped_line()
        check_books(result, f"run {run}", line, db, tally)
        _common(result, db, code)
        if stop_s > STOP_LIMIT_S:
            result.problems.append(f"run {run}: stop took {stop_s:.1f} s")
        accepted += tally.queued
        stored += sent_kinds_rows(db)
        unanswered += tally.unanswered
        shutdown_drops += drops_of(line).get("shutdown", 0)
        slowest = max(slowest, stop_s)
    result.figures = {
        "accepted (202 said queued)": accepted,
        "stored": stored,
        "shutdown drops": shutdown_drops,
        "requests refused or cut by the stop": unanswered,
        "slowest stop s": round(slowest, 2),
    }
    return result


def kills(work_dir: Path, scale: float, rng: random.Random) -> Result:
    """kill -9 under load, 50 times on one database, reopened each time: 0 committed rows lost."""
    runs = max(1, round(50 * scale))
    result = Result("kill -9", runs)
    db = work_dir / "kill.db"
    committed_lost = 0
    worst_uncommitted = 0
    for run in range(runs):
        daemon = Daemon(work_dir, db, f"kill-{run}")  # starting on what the last kill left is the reopen
        sent_before = sent_kinds_rows(db)
        senders = load(daemon.port, STEADY)
        time.sleep(rng.uniform(0.3, 1.5))
        committed = committed_rows(db)  # what a reader sees now is committed, so it must survive
        daemon.kill()
        tally = stop_senders(senders)
        committed_lost += sum(count - rows_up_to(db, table, max_id) for table, (max_id, count) in committed.items())
        worst_uncommitted = max(worst_uncommitted, tally.queued - (sent_kinds_rows(db) - sent_before))
        if (verdict := integrity(db)) != "ok":
            result.problems.append(f"run {run}: integrity_check: {verdict}")
    if committed_lost:
        result.problems.append(f"{committed_lost} committed rows lost")
    if worst_uncommitted > QUEUE_CAPACITY:
        result.problems.append(f"a kill lost {worst_uncommitted} queued events, more than the queue holds")
    result.figures = {
        "committed rows lost": committed_lost,
        "most queued events lost by one kill": worst_uncommitted,
        "rows at the end": stored_rows(db),
    }
    return result


def _watch_health(daemon: Daemon, until: threading.Event, seen: dict[str, Any]) -> None:
    """Poll /health every 0.2 s: count failures, note each status and the queue's peak."""
    while not until.wait(0.2):
        try:
            report = daemon.server.health()
        except OSError:
            seen["failed"] = seen.get("failed", 0) + 1
            continue
        seen.setdefault("statuses", set()).add(report["status"])
        seen["peak_depth"] = max(seen.get("peak_depth", 0), report["queue_depth"])
        seen["wal_peak"] = max(seen.get("wal_peak", 0), report["wal_size_bytes"])
        seen["written"] = report["events_written"]
        failures = report["writer"]["consecutive_failures"]  # busy batches retried in a row
        seen["writer_failures_peak"] = max(seen.get("writer_failures_peak", 0), failures)


def _with_outside_connection(
    work_dir: Path, tag: str, scale: float, hold_s: float, begin: str, result: Result
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the steady load; ``begin`` on an outside connection is held for ``hold_s``, then released."""
    db = work_dir / f"{tag}.db"
    daemon = Daemon(work_dir, db, tag)
    seen: dict[str, Any] = {}
    done = threading.Event()
    watcher = threading.Thread(target=_watch_health, args=(daemon, done, seen), daemon=True)
    watcher.start()
    senders = load(daemon.port, STEADY)
    time.sleep(1)
    outside = sqlite3.connect(db, isolation_level=None)
    outside.execute(begin)
    if begin.startswith("BEGIN DEFERRED"):
        outside.execute("SELECT count(*) FROM llm_traces").fetchone()  # the read snapshot starts here
    written_at_hold = daemon.server.health()["events_written"]
    time.sleep(hold_s)
    written_during = daemon.server.health()["events_written"] - written_at_hold
    outside.execute("COMMIT")
    outside.close()
    released = time.monotonic()
    # Load goes on; the WAL should come back under the TRUNCATE rule within a few retries of it.
    while time.monotonic() - released < WAL_SHRINK_LIMIT_S:
        wal_after = daemon.server.health()["wal_size_bytes"]
        if wal_after <= RESTART_THRESHOLD_BYTES:
            break
        time.sleep(0.5)
    shrink_s = time.monotonic() - released
    time.sleep(max(0.0, 3.0 - shrink_s))
    tally = stop_senders(senders)
    done.set()
    watcher.join()
    code, _ = daemon.stop()
    line = daemon.stopped_line()
    check_books(result, tag, line, db, tally)
    _common(result, db, code)
    if seen.get("failed"):
        result.problems.append(f"{tag}: /health failed {seen['failed']} times")
    if any(status >= 500 for status in tally.statuses):
        result.problems.append(f"{tag}: answers {dict(tally.statuses)}")
    drops = drops_of(line)
    if set(drops) - {"queue_full"}:
        result.problems.append(f"{tag}: drops other than queue_full: {drops}")
    return seen, {
        "written during the hold": written_during,
        "wal_after": wal_after,
        "shrink_s": shrink_s,
        "drops": drops,
        "rows": sent_kinds_rows(db),
    }


def locked(work_dir: Path, scale: float) -> Result:
    """An outside BEGIN IMMEDIATE for 2 s and 15 s: no silent loss, no crash, degraded shown."""
    result = Result("locked database", 2)
    for hold_s in (2.0, 15.0):
        tag = f"locked-{hold_s:.0f}s"
        seen, got = _with_outside_connection(work_dir, tag, scale, hold_s * scale, "BEGIN IMMEDIATE", result)
        if hold_s * scale >= 5 and "degraded" not in seen.get("statuses", set()):
            result.problems.append(f"{tag}: /health never said degraded while the queue was full")
        result.figures[tag] = (
            f"statuses {sorted(seen.get('statuses', set()))}, queue peak {seen.get('peak_depth', 0)}, "
            f"busy retries in a row {seen.get('writer_failures_peak', 0)}, "
            f"drops {got['drops'] or 0}, stored {got['rows']}"
        )
    return result


def long_reader(work_dir: Path, scale: float) -> Result:
    """A read transaction open for 120 s: writes go on, the WAL shrinks after it ends."""
    result = Result("long reader", 1)
    seen, got = _with_outside_connection(work_dir, "reader", scale, 120 * scale, "BEGIN DEFERRED", result)
    if got["written during the hold"] <= 0:
        result.problems.append("no event was written while the reader held its snapshot")
    # Below the TRUNCATE rule the file is kept and reused from the top; above it, it must come back down.
    if got["wal_after"] > RESTART_THRESHOLD_BYTES:
        result.problems.append(f"the WAL did not shrink: {got['wal_after']} bytes after, peak {seen['wal_peak']}")
    result.figures = {
        "written during the read": got["written during the hold"],
        "WAL peak MB": round(seen.get("wal_peak", 0) / 1e6, 1),
        "WAL after MB": round(got["wal_after"] / 1e6, 1),
        "s until under the 50 MB rule": round(got["shrink_s"], 1),
        "drops": got["drops"] or 0,
    }
    return result


def open_files(pid: int) -> int:
    return sum(len(list(Path(f"/proc/{member}/fd").iterdir())) for member in process_tree(pid))
