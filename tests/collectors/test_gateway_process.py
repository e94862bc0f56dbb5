"""Finding the gateway process by command line or PID file, and its figures."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.collectors.gateway_process import GatewayProcessProbe, cmdline_matches, read_pid_file


@pytest.mark.parametrize(
    ("cmdline", "patterns", "matches"),
    [
        (["node", "/usr/lib/openclaw/dist/index.js", "gateway", "--port", "18789"], ("openclaw", "gateway"), True),
        (["openclaw-gateway"], ("openclaw", "gateway"), True),
        (["OpenClaw", "Gateway"], ("openclaw", "gateway"), True),
        (["python", "-m", "openclaw_trace", "serve"], ("openclaw", "gateway"), False),
        (["nginx"], ("openclaw", "gateway"), False),
        ([], ("openclaw",), False),
        (["anything"], (), False),
    ],
)
def test_cmdline_matches(cmdline: list[str], patterns: tuple[str, ...], matches: bool) -> None:
    assert cmdline_matches(cmdline, patterns) is matches


@pytest.mark.parametrize(
    ("text", "pid"), [("1234\n", 1234), ("  77 extra", 77), ("", None), ("abc", None), ("0", None), ("\u00b2", None)]
)
def test_read_pid_file(tmp_path: Path, text: str, pid: int | None) -> None:
    path = tmp_path / "gw.pid"
    path.write_text(text)
    assert read_pid_file(str(path)) == pid


def test_missing_pid_file(tmp_path: Path) -> None:
    assert read_pid_file(str(tmp_path / "none.pid")) is None


@pytest.fixture
def fake_gateway() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A child process whose command line names a unique token plus "openclaw gateway"."""
    token = f"oct-test-{uuid.uuid4().hex}"
    code = "import sys, time\nfor _ in range(600):\n    time.sleep(0.1)\n"
    process = subprocess.Popen([sys.executable, "-c", code, "openclaw", "gateway", token])
    yield process, token
    process.kill()
    process.wait(10)


def test_found_by_name_pattern_with_figures(fake_gateway: tuple[subprocess.Popen[bytes], str]) -> None:
    process, token = fake_gateway
    probe = GatewayProcessProbe(name_patterns=("openclaw", "gateway", token))
    first = probe.sample()
    assert first is not None and first["pid"] == process.pid
    assert first["cpu_percent"] is None  # no interval yet
    second = probe.sample()
    assert second is not None
    assert second["cpu_percent"] is not None and second["cpu_percent"] >= 0.0
    assert second["rss_bytes"] > 1024 * 1024
    assert second["threads"] >= 1
    assert second["open_fds"] is not None and second["open_fds"] >= 3
    assert probe.pid == process.pid


def test_found_by_pid_file_and_lost_when_it_exits(
    tmp_path: Path, fake_gateway: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, _ = fake_gateway
    pid_file = tmp_path / "gateway.pid"
    pid_file.write_text(f"{process.pid}\n")
    probe = GatewayProcessProbe(pid_file=str(pid_file))
    assert (probe.sample() or {}).get("pid") == process.pid
    process.kill()
    process.wait(10)
    assert probe.sample() is None
    assert probe.pid is None


def test_absent_gateway_is_searched_again_only_after_the_interval() -> None:
    now = [0.0]
    token = f"absent-{uuid.uuid4().hex}"
    probe = GatewayProcessProbe(name_patterns=(token,), search_interval_s=60.0, clock=lambda: now[0])
    assert probe.sample() is None
    # A gateway with the token starting now would not be looked for until a minute has passed.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", token])
    try:
        now[0] = 30.0
        assert probe.sample() is None
        now[0] = 61.0
        assert (probe.sample() or {}).get("pid") == child.pid
    finally:
        child.kill()
        child.wait(10)


def test_never_matches_itself() -> None:
    # This process's own command line contains the pattern (pytest's arguments name this file).
    probe = GatewayProcessProbe(name_patterns=("test_gateway_process", "python"))
    found = probe.sample()
    assert found is None or found["pid"] != os.getpid()
