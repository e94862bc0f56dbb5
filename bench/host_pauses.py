"""Times when the machine itself stood still during a scenario: a real-time sleeper that notes its late wake-ups.

A process at ``SCHED_FIFO`` priority 50 sleeps 2 ms at a time and writes
down every wake-up more than ``LATE_MS`` late. At that priority it runs
before any ordinary thread (the daemon's, wrk's), so a late wake-up means
the CPU was not there for anybody: the hypervisor took it, or the kernel
did not let go. On this project's virtual machines such pauses were found
at batch-50's drop episodes (docs/benchmarks.md); each scenario's count
and longest pause go in the report, so that a missed target can be read
against the machine's own stalls.

Without the right to real-time scheduling (not root, no CAP_SYS_NICE) the
sleeper runs at normal priority and says so: its late wake-ups then
include plain CPU contention, and are reported as such.

Run by ``bench/run.py`` around each load window; alone for a look:

    .venv/bin/python -m bench.host_pauses 10     # watch for 10 s, print what it saw
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from types import FrameType, TracebackType

PERIOD_S = 0.002  # 1 ms cost ~3 % of one CPU; 2 ms ~2 %, and still sees every pause > LATE_MS
LATE_MS = 3.0
REALTIME_PRIORITY = 50


@dataclasses.dataclass
class Pauses:
    """What the sleeper saw: each late wake-up's delay in ms, and whether it ran at real-time priority."""

    realtime: bool
    delays_ms: list[float]

    def summary(self) -> str:
        kind = "real-time probe" if self.realtime else "probe at normal priority: includes CPU contention"
        if not self.delays_ms:
            return f"no pause > {LATE_MS:g} ms ({kind})"
        return f"{len(self.delays_ms)} pauses > {LATE_MS:g} ms, longest {max(self.delays_ms):.1f} ms ({kind})"


def watch(out: int) -> None:
    """The sleeper: one JSON line on ``out`` first (its priority), then one per late wake-up, until SIGTERM."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
        realtime = True
    except (AttributeError, OSError):  # no such policy here, or not allowed
        realtime = False
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    os.write(out, json.dumps({"realtime": realtime}).encode() + b"\n")
    before = time.monotonic()
    while not stopping:
        time.sleep(PERIOD_S)
        now = time.monotonic()
        late_ms = (now - before - PERIOD_S) * 1000
        if late_ms > LATE_MS:
            os.write(out, json.dumps({"late_ms": round(late_ms, 2)}).encode() + b"\n")
        before = now


def parse(lines: list[str]) -> Pauses:
    records = [json.loads(line) for line in lines if line.strip()]
    realtime = bool(records and records[0].get("realtime"))
    return Pauses(realtime, [float(r["late_ms"]) for r in records[1:] if "late_ms" in r])


class HostPauseProbe:
    """``with HostPauseProbe() as probe: ...`` then ``probe.result``: the pauses seen inside the block.

    The sleeper costs about 2 % of one CPU (measured alone here; ~3 % with the
    1 ms period that the runs before 2026-12-02 03:10 UTC used).
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.result: Pauses | None = None

    def __enter__(self) -> HostPauseProbe:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.host_pauses", "--serve"], stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        self._first_line = self._proc.stdout.readline()  # its priority; once read, it is watching
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc = self._proc
        assert proc is not None
        proc.terminate()
        rest, _ = proc.communicate(timeout=10)
        self.result = parse([self._first_line, *rest.splitlines()])


def main(argv: list[str]) -> None:
    if argv[:1] == ["--serve"]:
        watch(sys.stdout.fileno())
        return
    with HostPauseProbe() as probe:
        time.sleep(float(argv[0]) if argv else 10.0)
    assert probe.result is not None
    print(probe.result.summary())
    for delay in probe.result.delays_ms:
        print(f"  {delay:.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
