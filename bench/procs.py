"""Server subprocesses under test: start, wait until ready, sample, stop.

Everything here talks to 127.0.0.1 only and ends what it starts: a server
that does not stop on SIGTERM within its deadline is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RSS_SAMPLE_S = 0.5


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stat_cpu_seconds(text: str) -> float:
    """utime + stime from the text of a /proc ``stat`` file."""
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (the daemon's writer process, with OCT_WRITER=process)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                pids.extend(int(child) for child in children.read().split())
    except OSError:
        pass
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its children (all their threads) from /proc/<pid>/stat."""
    total = 0.0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                total += _stat_cpu_seconds(stat.read())
        except OSError:  # ended meanwhile
            continue
    return total


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """utime + stime per thread name of ``pid``; the main thread (the daemon's event loop) is "main".

    The daemon names its other threads for the OS (``oct-writer``,
    ``oct-checkpoint`` …); threads that share a name are summed.
    """
    by_name: dict[str, float] = {}
    for member in process_tree(pid):
        prefix = "" if member == pid else "child:"  # the writer process's threads
        try:
            tasks = os.listdir(f"/proc/{member}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{member}/task/{task}/stat") as stat:
                    text = stat.read()
            except OSError:  # the thread ended meanwhile
                continue
            name = "main" if task == str(pid) else prefix + text[text.index("(") + 1 : text.rindex(")")]
            by_name[name] = by_name.get(name, 0.0) + _stat_cpu_seconds(text)
    return by_name


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` and its children from /proc/*/status (0 once gone).

    A forked child's RSS counts the pages it still shares with its parent,
    so for two processes this sum is an upper bound of what they hold.
    """
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class RssSampler:
    """Peak RSS of a process and its children, sampled every 0.5 s from a background thread."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self.peak_bytes = rss_bytes(pid)
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            self.peak_bytes = max(self.peak_bytes, rss_bytes(self._pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes


class ServerProcess:
    """One server under test, its stderr going to ``log_path``.

    ``cpus`` pins it with ``taskset -c`` (taskset execs the command, so the
    pid we hold is the server's own).
    """

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path, cpus: str | None):
        self.port = port
        self.log_path = log_path
        command = (["taskset", "-c", cpus] if cpus else []) + argv
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.pid = self._proc.pid
        self.sampler = RssSampler(self.pid)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll GET /health until it answers; raise if the server exits or never answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited with {self._proc.returncode}; see {self.log_path}")
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout_s:.0f} s; see {self.log_path}")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
            report: dict[str, Any] = json.load(response)
        return report

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def thread_cpu_seconds(self) -> dict[str, float]:
        return thread_cpu_seconds(self.pid)

    def signal(self, signum: int) -> None:
        """Send ``signum`` (SIGKILL for a crash); ``stop`` then reaps the process."""
        if self._proc.poll() is None:
            self._proc.send_signal(signum)

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, wait for the graceful stop, SIGKILL after ``timeout_s``; the exit code."""
        try:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(10)
            return int(self._proc.returncode)
        finally:
            self.sampler.stop()
            self._log.close()

    def log_records(self) -> list[dict[str, Any]]:
        """The server's JSON log lines, parsed; other lines are skipped."""
        records: list[dict[str, Any]] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records
