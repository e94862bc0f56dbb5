"""LogTailer against a real daemon: real log replay, rotations at volume, restarts, /health, off by default."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openclaw_trace.collectors.logs.tailer import LogTailer, load_position
from openclaw_trace.daemon import Daemon
from tests.collectors.logs.test_parse import FIXTURE
from tests.conftest import Client, rows
from tests.test_daemon import Process

POLL_S = 0.002


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def tailers() -> Iterator[list[LogTailer]]:
    started: list[LogTailer] = []
    yield started
    for tailer in started:
        assert tailer.stop(5)


def start_tailer(daemon: Daemon, spec: Path, started: list[LogTailer], **options: int) -> LogTailer:
    tailer = LogTailer(
        str(spec), daemon.queue, daemon.config.db_path, daemon.ctx.limits, poll_interval_s=POLL_S, **options
    )
    tailer.start()
    started.append(tailer)
    return tailer


def settle(daemon: Daemon, tailer: LogTailer, lines: int) -> None:
    wait_until(lambda: tailer.health()["lines_read"] >= lines, f"{lines} lines read")
    assert daemon.writer.flush(20)


def test_no_tailer_thread_when_log_path_is_unset(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    assert not [t for t in threading.enumerate() if t.name == "oct-tail"]
    assert not [c for c in daemon.components if c.name == "log_tailer"]


def test_real_log_replayed_line_by_line(
    make_daemon: Callable[..., Daemon], tailers: list[LogTailer], tmp_path: Path
) -> None:
    daemon = make_daemon()
    log = tmp_path / "openclaw-2026-11-22.log"
    log.write_bytes(b"")
    tailer = start_tailer(daemon, log, tailers)
    data = FIXTURE.read_bytes().splitlines(keepends=True)
    with log.open("ab", buffering=0) as out:
        for number, line in enumerate(data):
            if number % 7 == 0:  # now and then a line arrives in two writes
                out.write(line[:40])
                time.sleep(0.0005)
                out.write(line[40:])
            else:
                out.write(line)
    settle(daemon, tailer, len(data))
    db = daemon.config.db_path

    errors = rows(db, "SELECT * FROM error_events ORDER BY created_at, id")
    assert Counter((e["error_type"], e["category"]) for e in errors) == {
        ("llm_error", "server_error"): 11,
        ("llm_error", "retries_exhausted"): 1,
        ("system_error", "network"): 2,
        ("system_error", "plugin_error"): 2,
        ("system_error", "cli_failure"): 1,
    }
    attempts = [e for e in errors if e["message"].startswith("⚠️ fakellm/fake-model request failed")]
    assert len(attempts) == 8  # the provider's HTTP 500, once per attempt
    assert {(e["provider"], e["model"], e["severity"]) for e in attempts} == {("fakellm", "fake-model", "warning")}
    lanes = [e for e in errors if e["message"].startswith("lane task error")]
    assert sorted(e["severity"] for e in lanes) == ["error", "error"]
    assert any(e["message"] == "[openclaw] The CLI command failed." for e in errors)
    assert {e["message"][:16] for e in errors if e["category"] == "plugin_error"} == {
        'Plugin "oct-brid',
        "Plugin not found",
    }

    events = rows(db, "SELECT * FROM gateway_events ORDER BY created_at, id")
    assert Counter(e["kind"] for e in events) == {
        "provider_http_error": 8,
        "retry": 7,
        "failover_decision": 1,
        "fallback_decision": 1,
        "gateway_start": 2,
        "gateway_stopping": 1,
        "gateway_stopped": 1,
    }
    retries = [e for e in events if e["kind"] == "retry"]
    assert [e["message"][:34] for e in retries] == [f"transient same-model retry {n}/8 for" for n in range(1, 8)]
    [fallback] = [e for e in events if e["kind"] == "fallback_decision"]
    assert fallback["subsystem"] == "model-fallback/decision" and fallback["level"] == "warn"
    assert '"decision":"candidate_failed"' in fallback["attributes"]

    [position] = rows(db, "SELECT * FROM tail_positions")
    assert position["file_path"] == str(log)
    assert (position["inode"], position["offset"]) == (log.stat().st_ino, log.stat().st_size)
    health = tailer.health()
    assert health["lines_read"] == 689
    assert health["events_emitted"] == 17 + 21
    assert health["lines_skipped"] == 689 - 38
    assert health["file"] == str(log) and health["offset"] == log.stat().st_size


class RotatingWriter:
    """Writes numbered lines into a directory of dated files, rotating in every way the issue names."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.day = 22
        self.index = 0
        self.path = self._base()

    def _base(self) -> Path:
        return self.directory / f"openclaw-2026-11-{self.day}.log"

    def write(self, first: int, count: int) -> None:
        text = "".join(f"ERROR seq={n}\n" for n in range(first, first + count)).encode()
        with self.path.open("ab", buffering=0) as out:
            # Uneven writes: lines often arrive in pieces.
            for start in range(0, len(text), 4093):
                out.write(text[start : start + 4093])

    def rotate(self, how: str) -> None:
        self.index += 1
        if how == "rename":
            self.path.rename(self.directory / f"openclaw-2026-11-{self.day}.{self.index}.log")
        elif how == "copytruncate":
            shutil.copyfile(self.path, self.directory / f"openclaw-2026-11-{self.day}.{self.index}.log")
            with self.path.open("r+b") as handle:
                handle.truncate(0)
        else:  # the next day's file
            self.day += 1
            self.path = self._base()
            self.path.touch()
            # Coarse clocks: make sure the new file is newer than the one just finished.
            later = time.time_ns() + 2_000_000_000
            os.utime(self.path, ns=(later, later))


def test_100000_lines_over_rotations_each_read_once(
    make_daemon: Callable[..., Daemon], tailers: list[LogTailer], tmp_path: Path
) -> None:
    daemon = make_daemon()
    logs = tmp_path / "logs"
    logs.mkdir()
    writer = RotatingWriter(logs)
    writer.path.touch()
    tailer = start_tailer(daemon, logs, tailers)
    # On its first start the tailer takes the newest file only: let it open the first one.
    wait_until(lambda: tailer.health().get("files_opened") == 1, "the first file opened")
    total, step = 100_000, 10_000
    plan = ["rename", "copytruncate", "newday", "rename", "copytruncate", "newday", "rename", "copytruncate", "rename"]
    for block in range(total // step):
        writer.write(block * step, step)
        if block % 2:  # half the rotations hit a file being followed, half race ahead of the tailer
            wait_until(lambda n=(block + 1) * step: tailer.health()["lines_read"] >= n, "the tailer to catch up")
        if block < len(plan):
            writer.rotate(plan[block])
    settle(daemon, tailer, total)
    seqs = [int(r["message"].split("=")[1]) for r in rows(daemon.config.db_path, "SELECT message FROM error_events")]
    assert len(seqs) == total
    assert set(seqs) == set(range(total))
    health = tailer.health()
    assert health["lines_read"] == total and health["events_emitted"] == total
    assert health["rotations"] + health["missed_files"] >= 6 and health["truncations"] >= 1


def test_graceful_restart_in_the_middle(
    make_daemon: Callable[..., Daemon], tailers: list[LogTailer], tmp_path: Path
) -> None:
    daemon = make_daemon()
    log = tmp_path / "gw.log"
    log.write_text("".join(f"ERROR first={n}\n" for n in range(3000)))
    first = start_tailer(daemon, log, tailers, max_lines_per_bundle=100)
    wait_until(lambda: first.health()["lines_read"] >= 500, "some lines")
    assert first.stop(5)  # mid-file: some bundles queued, the rest not yet read
    with log.open("a") as out:
        out.write("".join(f"ERROR second={n}\n" for n in range(1000)))
    assert daemon.writer.flush(20)
    second = start_tailer(daemon, log, tailers)
    settle(daemon, second, 4000 - first.health()["lines_read"])
    messages = [r["message"] for r in rows(daemon.config.db_path, "SELECT message FROM error_events")]
    assert len(messages) == 4000
    assert len(set(messages)) == 4000


def test_health_shows_the_tailer_when_log_path_is_set(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], tmp_path: Path
) -> None:
    log = tmp_path / "gw.log"
    log.write_text("ERROR one\nplain\n")
    daemon = make_daemon(log_path=str(log))
    assert [t for t in threading.enumerate() if t.name == "oct-tail"]
    client = connect(daemon)
    wait_until(lambda: client.health()["log_tailer"]["lines_read"] == 2, "the tailer in /health")
    section = client.health()["log_tailer"]
    assert section["file"] == str(log) and section["offset"] == 16
    assert (section["events_emitted"], section["lines_skipped"]) == (1, 1)


def _run_daemon(tmp_path: Path, name: str, log: Path, db_path: str) -> Process:
    run_dir = tmp_path / name
    run_dir.mkdir()
    process = Process(run_dir, {"OCT_LOG_PATH": str(log), "OCT_DB_PATH": db_path})
    process.wait_started()
    return process


def _reap(process: Process) -> None:
    if process.proc.poll() is None:
        process.proc.kill()
        process.proc.wait()
    process.log_file.close()


@pytest.mark.slow
def test_kill_9_and_sigterm_in_the_middle_neither_lose_nor_repeat(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    db_path = str(tmp_path / "oct.db")
    total = 30_000
    lines = [f"ERROR line={n}\n".encode() for n in range(total)]
    log.write_bytes(b"")
    with log.open("ab", buffering=0) as out:
        first = _run_daemon(tmp_path, "run1", log, db_path)
        try:
            out.write(b"".join(lines[:10_000]))
            wait_until(lambda: _stored(db_path) > 2000, "rows before the kill")
            out.write(b"".join(lines[10_000:15_000]))
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
        finally:
            _reap(first)
        killed_at = _stored(db_path)
        assert 0 < killed_at < 15_000
        second = _run_daemon(tmp_path, "run2", log, db_path)
        try:
            out.write(b"".join(lines[15_000:20_000]))
            wait_until(lambda: _stored(db_path) > killed_at + 1000, "rows before the graceful stop")
            second.proc.send_signal(signal.SIGTERM)  # while lines are still coming
            out.write(b"".join(lines[20_000:]))
            assert second.proc.wait(20) == 0
        finally:
            _reap(second)
        assert _stored(db_path) < total
    third = _run_daemon(tmp_path, "run3", log, db_path)
    try:
        wait_until(lambda: _stored(db_path) >= total, "every line after the restarts")
        assert third.stop() == 0
    finally:
        _reap(third)
    messages = [r["message"] for r in rows(db_path, "SELECT message FROM error_events")]
    assert len(messages) == total and len(set(messages)) == total
    position = load_position(db_path)
    assert position is not None and position.offset == log.stat().st_size


def _stored(db_path: str) -> int:
    try:
        return int(rows(db_path, "SELECT count(*) AS n FROM error_events")[0]["n"])
    except Exception:  # the database may not exist for the first moments
        return 0


def test_a_daemon_told_to_follow_a_planted_log_reads_nothing_and_says_why(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    # As a local user could leave it in /tmp/openclaw before the gateway starts.
    planted = tmp_path / "openclaw"
    planted.mkdir()
    log = planted / "openclaw-2026-12-08.log"
    log.write_text('{"0":"forged","_meta":{"logLevelName":"ERROR"}}\n')
    log.chmod(0o666)
    daemon = make_daemon(log_path=str(planted))
    [tailer] = [c for c in daemon.components if isinstance(c, LogTailer)]
    wait_until(lambda: tailer.health()["last_refused"] is not None, "the refusal")
    health = tailer.health()
    assert health["last_refused"] == f"{log}: writable by any user"
    assert (health["refused_paths"], health["lines_read"], health["degraded"]) == (1, 0, True)
