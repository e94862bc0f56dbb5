"""The shape every long-running part shares, so the daemon can start and stop them alike."""

from __future__ import annotations

import ctypes
import gc
import logging
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

_PR_SET_NAME = 15  # prctl option, <linux/prctl.h>
_OS_NAME_MAX_BYTES = 15  # the kernel keeps 16 bytes with the NUL
# Enough descriptors for thousands of client connections; more buys nothing.
OPEN_FILES_WANTED = 65536


def set_os_thread_name(name: str) -> None:
    """Give the calling thread ``name`` where the OS shows it (Linux: ``top -H``, ``/proc/*/task/*/comm``).

    Python names threads only for itself; an operator asking which thread
    burns the CPU, and the benchmark's per-thread figures, see this name.
    Best effort: a no-op where it is not supported.
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:_OS_NAME_MAX_BYTES], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def freeze_startup_objects() -> int:
    """Take every object alive now out of the cyclic collector's passes; the count frozen.

    For the end of start-up. A full collection walks every tracked object with
    the GIL held, and the ~35,000 that start-up leaves (modules, classes, the
    parts themselves) live as long as the daemon: measured on the project's
    machine, each full pass then paused the HTTP loop and the writer 3.5-13 ms
    (16-22 ms under load, longer than the 512-slot queue lasts at 45,000
    events/s), to find nothing. Frozen, they are still freed by reference
    counting; only cycles among them would stay, so a collection runs first.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def raise_open_files_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise this process's soft limit of open descriptors towards ``wanted``; the limit now.

    Each client connection holds a descriptor, and many systems start a
    process with a soft limit of 1024 while allowing far more (the hard
    limit). At the soft limit the event loop cannot accept and the writer
    cannot open files, which would cost events; raising it to what the hard
    limit allows needs no privilege. Never lowers it; best effort.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def named_target(target: Callable[[], None], name: str) -> Callable[[], None]:
    """``target`` run on a thread that first names itself ``name`` for the OS."""

    def run() -> None:
        set_os_thread_name(name)
        target()

    return run


class Component(Protocol):
    """A background part (metrics collector, upkeep, log tailer, pusher).

    ``start`` once. ``stop(timeout_s)`` is idempotent, returns within about
    ``timeout_s`` and says whether the part ended. ``health`` is shown in
    ``/health`` under ``name`` (None: nothing to show). Parts that produce
    events stop before the queue is drained; parts with
    ``stop_after_drain`` (the pusher's final push) stop after it, while the
    writer still takes control calls.
    """

    name: str
    stop_after_drain: bool

    def start(self) -> None: ...

    def stop(self, timeout_s: float) -> bool: ...

    def health(self) -> dict[str, Any] | None: ...


class ThreadedPart:
    """Runs ``_run`` on one named daemon thread; ``_stop`` tells it to finish.

    ``start`` is idempotent (a second call does nothing); ``stop(timeout_s)``
    sets ``_stop``, joins up to ``timeout_s`` and says whether the thread
    ended, also when it was never started. ``_run`` should wait on
    ``self._stop`` rather than sleep, so a stop takes effect at once.
    """

    def __init__(self, thread_name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=named_target(self._run, thread_name), name=thread_name, daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError


class Counts(Protocol):
    def count(self, name: str, amount: int = 1) -> None: ...


class PeriodicPart(ThreadedPart):
    """Runs ``tick`` every ``interval_s`` (the first after ``first_delay_s``) on its own thread.

    A tick that raises is logged and counted (``<name>.failures`` in ``stats``, and
    ``loop_health``), and the next interval tries again; while stopping, an error
    (the writer going away under the tick) ends the loop quietly.
    """

    name = "periodic"
    failure_message = "a periodic task failed"  # logged with the traceback, on ``logger``
    logger = logging.getLogger("openclaw_trace")

    def __init__(self, thread_name: str, stats: Counts, interval_s: float, first_delay_s: float | None = None) -> None:
        super().__init__(thread_name)
        self._counts = stats
        self._interval_s = interval_s
        self._first_delay_s = interval_s if first_delay_s is None else first_delay_s
        self._loop_lock = threading.Lock()
        self._failures = 0
        self._last_error: str | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def loop_health(self) -> dict[str, Any]:
        """``alive``, ``interval_s``, ``failures`` and ``last_error``: the start of every such part's section."""
        with self._loop_lock:
            return {
                "alive": self._thread.is_alive(),
                "interval_s": self._interval_s,
                "failures": self._failures,
                "last_error": self._last_error,
            }

    def _run(self) -> None:
        delay = self._first_delay_s
        while not self._stop.wait(delay):
            delay = self._interval_s
            try:
                self.tick()
            except Exception as exc:  # the loop's edge: log, count, try again next interval
                if self._stop.is_set():
                    return  # the writer stopping under us at shutdown is expected
                with self._loop_lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                self._counts.count(f"{self.name}.failures")
                self.logger.exception(self.failure_message)


StopStep = Literal["drain", "parts_after_drain", "writer", "checkpointer"]
# What the steps that follow each one keep back of the stop deadline, in seconds.
RESERVED_AFTER: dict[StopStep, float] = {
    "drain": 2.0,  # the parts that stop after the drain, the writer, the checkpoints
    "parts_after_drain": 1.0,  # the writer's stop, the checkpointer, the final checkpoint
    "writer": 0.5,  # the checkpointer's stop and the final checkpoint
    "checkpointer": 0.2,  # the final checkpoint and the close
}


class StopBudget:
    """One deadline for a graceful stop (``OCT_SHUTDOWN_TIMEOUT``), handed out step by step.

    Each step of the stop gets what is left of the deadline but what the
    steps after it keep back (``RESERVED_AFTER``), and never less than
    ``FLOOR_S``: so a slow drain cannot eat the final checkpoint's time,
    and a deadline already past still lets each part try once.
    """

    FLOOR_S = 0.1

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.started_at: float | None = None  # time.monotonic() when the stop began

    def begin(self) -> bool:
        """Start the clock; False when it had started already."""
        if self.started_at is not None:
            return False
        self.started_at = time.monotonic()
        return True

    def remaining_s(self) -> float:
        if self.started_at is None:
            return self.total_s
        return max(0.0, self.started_at + self.total_s - time.monotonic())

    def for_step(self, step: StopStep, also_reserved_s: float = 0.0) -> float:
        """What ``step`` may take: what is left, less what the later steps (and ``also_reserved_s``) keep back."""
        return max(self.FLOOR_S, self.remaining_s() - RESERVED_AFTER[step] - also_reserved_s)

    def share(self, fraction: float) -> float:
        """A ``fraction`` of what is left (the producers, stopped first, get a third)."""
        return max(self.FLOOR_S, self.remaining_s() * fraction)

    def elapsed_s(self) -> float:
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at
