"""The systemd units in deploy/systemd: valid for systemd, hardened, and fit for this daemon.

``systemd-analyze verify`` loads a unit as the service manager would and also
checks that ``ExecStart=`` names an executable file. The installed command
(/usr/local/bin/openclaw-trace, ~/.local/bin/openclaw-trace) does not exist on a
test machine, so each unit is verified with the command that this test run has:
the user unit unchanged, with a home directory whose ~/.local/bin holds this
environment's ``openclaw-trace`` (where pipx puts it); the system unit as a copy
in which the ExecStart path alone is replaced by that script, the one line that
differs. Nothing else is faked, so every other setting is checked as written.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from openclaw_trace.config import Config, load_config
from openclaw_trace.lifecycle import OPEN_FILES_WANTED

REPO = Path(__file__).resolve().parents[2]
SYSTEM_UNIT = REPO / "deploy" / "systemd" / "openclaw-trace.service"
USER_UNIT = REPO / "deploy" / "systemd" / "openclaw-trace.user.service"
INSTALLED_COMMAND = "/usr/local/bin/openclaw-trace"
# This run's console script, beside the interpreter (.venv/bin under make test).
SCRIPT = Path(sys.executable).parent / "openclaw-trace"
# Our own bar for `systemd-analyze security` (0 is best, 10 worst; systemd calls up to 1.9 "OK").
MAX_EXPOSURE = 2.0

ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def directives(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment of ``unit``, in order (keys repeat)."""
    found, section = [], ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(unit: Path, key: str) -> list[str]:
    return [value for _, name, value in directives(unit) if name == key]


def seconds(value: str) -> float:
    """A systemd time span such as ``30s``, ``1min 30s`` or ``90`` in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value))


def unit_environment(unit: Path) -> dict[str, str]:
    """The unit's ``Environment=`` assignments, with the specifiers they use resolved."""
    env = dict(value.split("=", 1) for value in values(unit, "Environment"))
    return {key: value.replace("%S", "/var/lib").replace("%h", "/home/someone") for key, value in env.items()}


def run_analyze(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


@pytest.fixture
def system_unit_copy(tmp_path: Path) -> Path:
    """The system unit with its ExecStart pointing at this run's real script; nothing else changed."""
    assert SCRIPT.is_file(), f"no console script at {SCRIPT}: install the project (make test does)"
    original = SYSTEM_UNIT.read_text()
    copy = original.replace(INSTALLED_COMMAND, str(SCRIPT))
    changed = [line for line in copy.splitlines() if line not in original.splitlines()]
    assert changed == [f"ExecStart={SCRIPT} serve"]
    path = tmp_path / SYSTEM_UNIT.name
    path.write_text(copy)
    return path


def test_the_system_unit_passes_verify(system_unit_copy: Path) -> None:
    result = run_analyze("verify", str(system_unit_copy), cwd=system_unit_copy.parent)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_user_unit_passes_verify_as_written(tmp_path: Path) -> None:
    assert SCRIPT.is_file(), f"no console script at {SCRIPT}: install the project (make test does)"
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "openclaw-trace").symlink_to(SCRIPT)
    runtime = tmp_path / "run"  # a user manager needs its runtime directory
    runtime.mkdir(mode=0o700)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    result = run_analyze("--user", "verify", str(USER_UNIT), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_system_unit_security_exposure_is_low(tmp_path: Path) -> None:
    result = run_analyze("security", "--offline=yes", str(SYSTEM_UNIT), cwd=tmp_path)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_the_unit_fits_the_daemon(unit: Path) -> None:
    [stop] = values(unit, "TimeoutStopSec")
    assert seconds(stop) > Config().shutdown_timeout, "systemd would SIGKILL the daemon mid-drain"
    assert values(unit, "Restart") == ["on-failure"]
    assert values(unit, "RestartPreventExitStatus") == ["2"]  # a bad setting exits 2; restarting cannot help
    # PrivateTmp= (also implied by DynamicUser=) would hide /tmp/openclaw, the gateway's log.
    assert values(unit, "PrivateTmp") == []
    assert values(unit, "DynamicUser") == []
    assert values(unit, "NoNewPrivileges") == ["yes"]
    # Every OCT_* variable is a known setting with a valid value: the daemon refuses anything else.
    env = unit_environment(unit)
    assert env["OCT_LOG_PATH"] == "auto"
    load_config(env)


def test_the_system_unit_keeps_its_database_in_its_state_directory() -> None:
    assert values(SYSTEM_UNIT, "StateDirectory") == ["openclaw-trace"]
    assert unit_environment(SYSTEM_UNIT)["OCT_DB_PATH"] == "/var/lib/openclaw-trace/openclaw-trace.db"
    assert values(SYSTEM_UNIT, "ProtectSystem") == ["strict"]
    [limit] = values(SYSTEM_UNIT, "LimitNOFILE")
    assert int(limit) >= OPEN_FILES_WANTED
    assert values(SYSTEM_UNIT, "ExecStart") == [f"{INSTALLED_COMMAND} serve"]
    assert values(USER_UNIT, "ExecStart") == ["%h/.local/bin/openclaw-trace serve"]


# The system calls the daemon makes, against the units' SystemCallFilter= -----------------


def expand(group: str) -> set[str]:
    """The system calls of a ``@group`` (its nested groups too), or the one call named."""
    if not group.startswith("@"):
        return {group}
    listing = run_analyze("syscall-filter", group).stdout.splitlines()
    calls: set[str] = set()
    for line in listing[1:]:
        name = line.strip()
        if name and not name.startswith("#"):
            calls |= expand(name)
    return calls


def allowed_calls(unit: Path) -> set[str]:
    """What the unit's SystemCallFilter= lines allow: an allow list, then ``~`` removals."""
    allowed = expand("@default")  # always allowed with an allow list
    for value in values(unit, "SystemCallFilter"):
        if value.startswith("~"):
            for name in value[1:].split():
                allowed -= expand(name)
        else:
            for name in value.split():
                allowed |= expand(name)
    return allowed


def strace_works() -> bool:
    strace = shutil.which("strace")
    if strace is None:
        return False
    probe = subprocess.run([strace, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


class Receiver(BaseHTTPRequestHandler):
    """A push endpoint that takes everything."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def push_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, name="push-receiver", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ingest"
    server.shutdown()
    server.server_close()
    thread.join()


def listening_port(strace_pid: int, timeout_s: float = 20) -> int:
    """The loopback port of the daemon that strace started (OCT_PORT=0)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in psutil.Process(strace_pid).children():
            for conn in child.net_connections("tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    return int(conn.laddr.port)
        time.sleep(0.05)
    raise AssertionError("the daemon did not listen")


def request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def every_timed_part_ran(health: dict[str, Any]) -> bool:
    """Host metrics sampled, the log read, a push made, an upkeep cycle run."""
    return (
        health["feeds"]["host"]["events"] > 0
        and health["log_tailer"]["lines_read"] >= 2
        and health["last_push_time"] is not None
        and health["upkeep"]["cycles"] > 0
    )


def wait_until_every_timed_part_ran(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = request(port, "GET", "/health")
        health = json.loads(body)
        if status == 200 and every_timed_part_ran(health):
            return
        assert time.monotonic() < deadline, json.dumps({key: health.get(key) for key in ("feeds", "log_tailer")})
        time.sleep(0.05)


OTLP_SPAN = (
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",'
    b'"spanId":"eee19b7ec3c1b174","name":"chat gpt-4o","startTimeUnixNano":"1765155600000000000",'
    b'"endTimeUnixNano":"1765155601000000000","attributes":[{"key":"gen_ai.system","value":'
    b'{"stringValue":"openai"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}}]}]}]}]}'
)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not strace_works(), reason="strace is missing or may not trace here")
@pytest.mark.parametrize("writer", ["thread", "process"])
def test_every_system_call_of_the_daemon_passes_the_units_filter(
    writer: str, tmp_path: Path, push_receiver: str
) -> None:
    """Each part at work under strace: ingest, OTLP (its decoder child), reads, host
    metrics, the log tailer, push, upkeep, checkpoints, the writer in both modes, and
    the graceful stop. A call outside the filter would fail with EPERM in production."""
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    log_file = logs / "openclaw-2026-12-08.log"
    log_file.write_text("2026-12-08T01:00:00.000+00:00 [gateway] listening on ws://127.0.0.1:18789\n")
    log_file.chmod(0o600)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OCT_")}
    env.update(
        {
            "OCT_PORT": "0",
            "OCT_DB_PATH": str(tmp_path / "data" / "oct.db"),
            "OCT_WRITER": writer,
            "OCT_LOG_PATH": str(logs),
            "OCT_METRICS_INTERVAL": "1s",
            "OCT_PUSH_ENDPOINT": push_receiver,
            "OCT_PUSH_INTERVAL": "1s",
            "OCT_CLEANUP_INTERVAL": "1s",
            "OCT_WAL_CHECKPOINT_INTERVAL": "1s",
        }
    )
    trace = tmp_path / "strace.txt"
    with (tmp_path / "daemon.log").open("w") as daemon_log:
        strace = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", str(trace), str(SCRIPT), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=daemon_log,
        )
    try:
        port = listening_port(strace.pid)
        assert request(port, "POST", "/v1/traces", b'{"provider":"openai","model":"gpt-4o-mini"}')[0] == 202
        assert request(port, "POST", "/v1/errors", b'{"error_type":"crash","message":"boom"}')[0] == 202
        assert request(port, "POST", "/v1/traces", OTLP_SPAN)[0] == 200
        with log_file.open("a") as log:
            log.write("2026-12-08T01:00:01.000+00:00 [gateway] ERROR something failed\n")
        assert request(port, "GET", "/api/v1/summary?since=1h")[0] == 200
        wait_until_every_timed_part_ran(port)
        [daemon] = psutil.Process(strace.pid).children()
        daemon.send_signal(signal.SIGTERM)
        assert strace.wait(60) == 0, (tmp_path / "daemon.log").read_text()
    finally:
        if strace.poll() is None:
            strace.kill()
            strace.wait()
    used = {match.group(1) for match in re.finditer(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", trace.read_text(), re.M)}
    if os.geteuid() == 0:
        # SQLite gives a new -wal/-shm file its database's owner when it runs as root
        # (robustFchown); the units run it as a user, where it never calls fchown.
        used -= {"fchown"}
    for unit in (SYSTEM_UNIT, USER_UNIT):
        assert used <= allowed_calls(unit), f"{unit.name} forbids {sorted(used - allowed_calls(unit))}"
