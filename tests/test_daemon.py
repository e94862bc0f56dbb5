"""The daemon as a real process: start-up line, SIGTERM drain, bad settings, status."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.config import Config
from openclaw_trace.daemon import Daemon, StartError, passive_if_still_due
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import Client, rows


class Process:
    """``python -m openclaw_trace serve`` with its JSON log in a file."""

    def __init__(
        self,
        tmp_path: Path,
        env: dict[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        name: str = "daemon",
    ) -> None:
        self.db_path = str(tmp_path / "proc.db")  # the same for every daemon of a test
        self.log_path = tmp_path / f"{name}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
        full_env.update({"OCT_PORT": "0", "OCT_DB_PATH": self.db_path, **(env or {})})
        self.writer = full_env.get("OCT_WRITER", "thread")
        self.log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openclaw_trace", "serve"],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
            preexec_fn=preexec,
        )
        self.port = 0

    def wait_started(self, timeout_s: float = 20) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log_lines():
                if line.get("msg") == "openclaw-trace started":
                    self.port = int(line["listen"].rsplit(":", 1)[1])
                    return self.port
            assert self.proc.poll() is None, self.log_path.read_text()
            time.sleep(0.02)
        raise AssertionError("daemon did not start")

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def wait_for_line(self, msg: str, timeout_s: float = 10) -> None:
        """Wait until the daemon has logged ``msg``."""
        deadline = time.monotonic() + timeout_s
        while not any(line.get("msg") == msg for line in self.log_lines()):
            assert time.monotonic() < deadline, f"no {msg!r} line: {self.log_path.read_text()}"
            time.sleep(0.02)

    def close(self) -> None:
        """Kill the daemon if a test left it running; close its log."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()

    def stop(self, timeout_s: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        self.log_file.close()
        return code


def child_pids(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(params=["thread", "process"])
def process(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Process]:
    """The daemon with its writer in a thread, then in a child process (OCT_WRITER)."""
    proc = Process(tmp_path, {"OCT_WRITER": request.param})
    yield proc
    proc.close()


def test_start_up_line_names_version_settings_database_and_address(process: Process) -> None:
    port = process.wait_started()
    [started] = [line for line in process.log_lines() if line.get("msg") == "openclaw-trace started"]
    assert started["version"]
    assert started["db_path"] == process.db_path
    assert started["listen"] == f"http://127.0.0.1:{port}"
    assert started["settings"]["max_text_bytes"] == 16384
    assert started["frozen_objects"] > 0  # start-up objects are out of the collector's passes
    assert process.stop() == 0


def soft_open_files_limit(pid: int) -> int:
    lines = Path(f"/proc/{pid}/limits").read_text().splitlines()
    [line] = [line for line in lines if line.startswith("Max open files")]
    return int(line.split()[3])


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads the limit from Linux's /proc")
def test_the_daemon_raises_a_low_open_files_limit_to_what_the_hard_limit_allows(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")
    # Started as many systems start a service: soft limit low, hard limit higher.
    proc = Process(tmp_path, preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    try:
        proc.wait_started()
        expected = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
        assert soft_open_files_limit(proc.proc.pid) == expected
        [started] = [line for line in proc.log_lines() if line.get("msg") == "openclaw-trace started"]
        assert started["open_files_limit"] == expected
        assert proc.stop() == 0
    finally:
        proc.close()


def test_sigterm_drains_every_accepted_event(process: Process) -> None:
    process.wait_started()
    client = Client(process.port)
    # Hold the writer back so that events are still queued when SIGTERM lands.
    blocker = sqlite3.connect(process.db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    queued = 0
    for i in range(9):
        status, answer = client.post("/v1/traces", [{"provider": "p", "model": f"m{i}"}] * 50)
        assert status == 202
        queued += answer["queued"]
    status, answer = client.post("/v1/errors", {"error_type": "crash", "message": "x"})
    queued += answer["queued"]
    client.close()
    process.proc.send_signal(signal.SIGTERM)
    process.wait_for_line("stopping")  # the stop has begun with the events still queued: let the drain write
    blocker.execute("ROLLBACK")
    blocker.close()
    assert process.proc.wait(20) == 0
    process.log_file.close()
    stored = len(rows(process.db_path, "SELECT id FROM llm_traces")) + len(
        rows(process.db_path, "SELECT id FROM error_events")
    )
    assert stored == queued == 451
    check = sqlite3.connect(process.db_path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    wal = Path(process.db_path + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed, then removed on close
    [stopped] = [line for line in process.log_lines() if line.get("msg") == "openclaw-trace stopped"]
    assert stopped["events_written"] == 451
    assert stopped["events_received"] == 451
    assert stopped["events_lost_at_deadline"] == 0


def test_requests_during_the_stop_get_202_and_are_counted_as_shutdown_drops(process: Process) -> None:
    process.wait_started()
    kept_alive = Client(process.port)
    blocker = sqlite3.connect(process.db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # the drain waits behind this lock, so the stop lasts
    try:
        assert kept_alive.post("/v1/traces", [{"provider": "p", "model": "before"}] * 10)[1]["queued"] == 10
        process.proc.send_signal(signal.SIGTERM)
        process.wait_for_line("stopping")
        # The queue closes just after the "stopping" line: offer one event at a time until one
        # is refused. Those accepted before are drained and written like the first ten.
        event = {"provider": "p", "model": "during"}
        accepted = 0
        deadline = time.monotonic() + 10
        while True:
            status, answer = kept_alive.post("/v1/traces", event)
            assert status == 202
            if not answer["queued"]:
                break
            accepted += 1
            assert time.monotonic() < deadline, "the queue was never closed"
            time.sleep(0.01)
        answers = [(status, answer)]
        newcomer = Client(process.port)  # a connection opened during the stop is served too
        answers += [
            newcomer.post("/v1/traces", [event] * 4),
            newcomer.post("/v1/errors", {"error_type": "crash", "message": "x"}),
        ]
        newcomer.close()
        kept_alive.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert [status for status, _ in answers] == [202, 202, 202]
    assert [answer["dropped"] for _, answer in answers] == [1, 4, 1]
    assert all(answer["queued"] == 0 for _, answer in answers)
    assert process.proc.wait(20) == 0
    [stopped] = [line for line in process.log_lines() if line.get("msg") == "openclaw-trace stopped"]
    assert stopped["dropped_by_reason"]["shutdown"] == 6
    assert stopped["events_written"] == 10 + accepted == len(rows(process.db_path, "SELECT id FROM llm_traces"))
    assert stopped["events_received"] == 16 + accepted


def test_status_command_reads_health(process: Process) -> None:
    process.wait_started()
    url = f"http://127.0.0.1:{process.port}"
    text = subprocess.run(
        [sys.executable, "-m", "openclaw_trace", "status", "--url", url], capture_output=True, text=True
    )
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("openclaw-trace ") and ": ok, up " in text.stdout.splitlines()[0]
    assert "0 received, 0 written, 0 dropped" in text.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "openclaw_trace", "status", "--url", url, "--json"],
        capture_output=True,
        text=True,
    )
    report = json.loads(raw.stdout)
    assert report["status"] == "ok"
    assert process.stop() == 0


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "openclaw_trace", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"OCT_PORT": "abc"}, "OCT_PORT='abc'"),
        ({"OCT_MAX_BODY_BYTES": "huge"}, "OCT_MAX_BODY_BYTES='huge'"),
        ({"OCT_SHUTDOWN_TIMEOUT": "5 parsecs"}, "OCT_SHUTDOWN_TIMEOUT='5 parsecs'"),
    ],
)
def test_bad_setting_exits_2_with_one_line(env: dict[str, str], needle: str) -> None:
    result = run_cli("serve", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert needle in lines[0]


def test_bad_flag_value_exits_2_naming_the_flag(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "nope", env={"OCT_DB_PATH": str(tmp_path / "x.db")})
    assert result.returncode == 2
    assert "--port='nope'" in result.stderr
    assert "OCT_PORT" not in result.stderr  # the user typed the flag, not the variable


def test_port_in_use_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", env={"OCT_PORT": str(port), "OCT_DB_PATH": str(tmp_path / "x.db")})
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_version_and_help() -> None:
    assert run_cli("--version").stdout.startswith("openclaw-trace ")
    help_text = run_cli("serve", "--help").stdout
    assert "OCT_MAX_TEXT_BYTES" in help_text
    assert "--max-text-bytes" in help_text


def test_status_without_a_daemon_exits_1(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = run_cli("status", "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert "no daemon answering" in result.stderr


def test_kill_9_loses_no_committed_row_and_the_database_opens(process: Process) -> None:
    process.wait_started()
    client = Client(process.port)
    for _ in range(10):
        client.post("/v1/traces", [{"provider": "p", "model": "committed"}] * 50)
    deadline = time.monotonic() + 20
    while client.health()["events_written"] < 500 and time.monotonic() < deadline:
        time.sleep(0.02)
    committed = client.health()["events_written"]
    assert committed == 500
    for _ in range(20):  # more in flight when the process dies
        client.post("/v1/traces", [{"provider": "p", "model": "in-flight"}] * 25)
    client.close()
    children = child_pids(process.proc.pid)
    assert len(children) == (1 if process.writer == "process" else 0)
    process.proc.kill()
    process.proc.wait(10)
    # A writer process sees its channel end, finishes the batch at hand and exits by itself.
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in children):
        assert time.monotonic() < deadline, f"writer process {children} outlived the daemon"
        time.sleep(0.02)
    check = sqlite3.connect(process.db_path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("SELECT count(*) FROM llm_traces WHERE model = 'committed'").fetchone()[0] == 500
    in_flight = check.execute("SELECT count(*) FROM llm_traces WHERE model = 'in-flight'").fetchone()[0]
    assert 0 <= in_flight <= 500
    check.close()


def test_under_sustained_ingest_the_writer_finishes_checkpoints_and_the_wal_stays_small(
    daemon: Any, client: Client
) -> None:
    # The daemon wires the checkpointer to the writer (finish) and to its row count;
    # without that wiring finished_by_writer stays 0 and the WAL only grows.
    batch = [{"provider": "p", "model": "m", "input_text": "x" * 1000} for _ in range(50)]
    deadline = time.monotonic() + 60
    wal: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for _ in range(20):
            assert client.post("/v1/traces", batch)[0] == 202
        wal = client.health()["upkeep"]["wal"]
        if wal["finished_by_writer"] > 0:
            break
    assert wal["finished_by_writer"] > 0, wal
    assert wal["truncates"] == 0
    assert daemon.writer.flush(10)
    report = client.health()
    assert report["events_received"] == report["events_written"] + report["events_dropped"]


def test_the_writers_checkpoint_pass_is_skipped_when_the_queue_grew_deep_meanwhile(tmp_path: Path) -> None:
    conn = open_write_connection(str(tmp_path / "p.db"))
    schema.migrate(conn)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    row = ("p", "m", "x" * 2000, None, 1, 2, 3, None, None, 0.1, "reported", 5.0, "ok", None, None, None, None, None)
    writes.insert_rows(conn, "trace", [(f"id{i}", i, *row) for i in range(50)])
    queue = IngestQueue(Stats())  # nobody takes from it: its depth is what was offered
    assert queue.offer_many([Envelope("trace", 0, row)] * 129) == 129
    assert passive_if_still_due(queue, 2048, conn) is None  # deeper than a quarter: not now
    busy, frames, copied = passive_if_still_due(queue, 4096, conn) or (1, 0, 0)  # a WAL this big: however deep
    assert busy == 0
    assert frames == copied > 0  # it ran
    shallow = IngestQueue(Stats())
    writes.insert_rows(conn, "trace", [(f"id2-{i}", i, *row) for i in range(50)])
    assert passive_if_still_due(shallow, 2048, conn) is not None
    conn.close()


# -- one daemon per database ------------------------------------------------


def test_a_second_daemon_on_the_same_database_exits_1_naming_the_file_and_the_holder(
    process: Process, tmp_path: Path
) -> None:
    process.wait_started()
    refused = run_cli("serve", env={"OCT_DB_PATH": process.db_path, "OCT_PORT": "0", "OCT_WRITER": process.writer})
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line == (
        f"openclaw-trace: {process.db_path} is in use by another openclaw-trace daemon (pid {process.proc.pid});"
        " stop it, or choose another database with OCT_DB_PATH or --db"
    )
    # The first one goes on undisturbed (with a writer process: its child closing its copy
    # of the lock's descriptor did not unlock it), and its clean stop frees the database.
    client = Client(process.port)
    assert client.post("/v1/errors", {"error_type": "crash", "message": "still here"})[0] == 202
    client.close()
    assert process.stop() == 0
    assert len(rows(process.db_path, "SELECT id FROM error_events")) == 1
    following = Process(tmp_path, {"OCT_WRITER": process.writer}, name="following")
    try:
        following.wait_started()
        assert following.stop() == 0
    finally:
        following.close()


def test_after_kill_9_the_next_daemon_starts_on_the_same_database(process: Process, tmp_path: Path) -> None:
    process.wait_started()
    children = child_pids(process.proc.pid)
    process.proc.kill()
    process.proc.wait(10)
    # Started at once, while a writer process may still finish its batch: the lock died
    # with the daemon, and the child never held it.
    following = Process(tmp_path, {"OCT_WRITER": process.writer}, name="after-kill")
    try:
        following.wait_started()
        client = Client(following.port)
        assert client.health()["status"] == "ok"
        client.close()
        assert following.stop() == 0
    finally:
        following.close()
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in children):
        assert time.monotonic() < deadline, f"writer process {children} outlived the daemon"
        time.sleep(0.02)


def test_read_commands_work_beside_a_running_daemon(process: Process) -> None:
    process.wait_started()
    client = Client(process.port)
    assert client.post("/v1/traces", {"provider": "p", "model": "beside-the-daemon"})[0] == 202
    assert client.post("/v1/errors", {"error_type": "crash", "message": "seen beside"})[0] == 202
    deadline = time.monotonic() + 20
    while client.health()["events_written"] < 2:
        assert time.monotonic() < deadline, "events not written"
        time.sleep(0.02)
    client.close()
    env = {"OCT_DB_PATH": process.db_path}
    traces = run_cli("traces", "--json", env=env)
    assert traces.returncode == 0, traces.stderr
    assert "beside-the-daemon" in traces.stdout
    errors = run_cli("errors", "--json", env=env)
    assert errors.returncode == 0, errors.stderr
    assert "seen beside" in errors.stdout
    for command in (["summary"], ["push", "--status"], ["metrics"], ["books"]):
        result = run_cli(*command, env=env)
        assert result.returncode == 0, (command, result.stderr)
    assert process.stop() == 0


def test_a_daemon_that_cannot_listen_leaves_the_database_unlocked(
    db_path: str, make_daemon: Callable[..., Daemon]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            Daemon(Config(host="127.0.0.1", port=port, db_path=db_path))
    make_daemon()  # the lock it took went with its failed start
