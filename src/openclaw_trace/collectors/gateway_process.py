"""Resource use of the OpenClaw gateway process, beside the host's.

The gateway is found by a PID file when one is given, otherwise by the
first process (other than this one) whose command line contains every
one of ``name_patterns`` (case-insensitive; default ``openclaw`` and
``gateway``). The process found is kept and re-checked each sample; a
new search runs only once it is gone, and at most every
``search_interval_s`` while nothing matches, so an absent gateway costs one
scan of the process table per minute, not per sample.

Not thread-safe: one collector thread calls ``sample``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil  # type: ignore[import-untyped]

DEFAULT_NAME_PATTERNS = ("openclaw", "gateway")
SEARCH_INTERVAL_S = 60.0


def cmdline_matches(cmdline: Sequence[str], patterns: Sequence[str]) -> bool:
    """True when the joined command line contains every pattern (case-insensitive)."""
    joined = " ".join(cmdline).lower()
    return bool(patterns) and all(pattern.lower() in joined for pattern in patterns)


def read_pid_file(path: str) -> int | None:
    """The first integer in ``path``; None when missing, unreadable or not a PID."""
    try:
        with open(path) as handle:
            text = handle.read(64).strip()
    except OSError:
        return None
    first = text.split()[0] if text else ""
    return int(first) if first.isdecimal() and int(first) > 0 else None


class GatewayProcessProbe:
    """Finds the gateway and reports its CPU %, RSS, threads and open file descriptors."""

    def __init__(
        self,
        pid_file: str | None = None,
        name_patterns: Sequence[str] = DEFAULT_NAME_PATTERNS,
        search_interval_s: float = SEARCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pid_file = pid_file
        self._patterns = tuple(name_patterns)
        self._search_interval_s = search_interval_s
        self._clock = clock
        self._process: Any = None  # psutil.Process once found
        self._last_search: float | None = None

    @property
    def pid(self) -> int | None:
        return int(self._process.pid) if self._process is not None else None

    def sample(self) -> dict[str, Any] | None:
        """Figures for the gateway, or None when no gateway is found.

        ``cpu_percent`` is of one core (a busy two-threaded process may show
        200) and is None on the first sample of a process, which has no
        interval to measure over yet.
        """
        first = False
        if self._process is None or not self._alive(self._process):
            self._process = self._find()
            first = True
            if self._process is None:
                return None
        process = self._process
        try:
            with process.oneshot():
                cpu = process.cpu_percent(None)
                figures: dict[str, Any] = {
                    "pid": process.pid,
                    "cpu_percent": None if first else round(float(cpu), 2),
                    "rss_bytes": int(process.memory_info().rss),
                    "threads": int(process.num_threads()),
                    "open_fds": _open_fds(process),
                }
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._process = None
            return None
        return figures

    def _alive(self, process: Any) -> bool:
        try:
            if not process.is_running():
                return False
        except psutil.Error:
            return False
        if self._pid_file is not None:
            # The gateway restarted under a new PID: follow the file.
            return bool(read_pid_file(self._pid_file) == process.pid)
        return True

    def _find(self) -> Any:
        if self._pid_file is not None:
            pid = read_pid_file(self._pid_file)
            if pid is None:
                return None
            try:
                return psutil.Process(pid)
            except psutil.Error:
                return None
        now = self._clock()
        if self._last_search is not None and now - self._last_search < self._search_interval_s:
            return None
        self._last_search = now
        own = os.getpid()
        for candidate in psutil.process_iter(["pid", "cmdline"]):
            cmdline = candidate.info.get("cmdline") or []
            if candidate.info["pid"] != own and cmdline_matches(cmdline, self._patterns):
                return candidate
        return None


def _open_fds(process: Any) -> int | None:
    try:
        return int(process.num_fds())  # POSIX: every descriptor, files and sockets alike
    except (AttributeError, psutil.AccessDenied):
        try:
            return len(process.open_files())
        except psutil.Error:
            return None
