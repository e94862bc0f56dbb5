"""Background parts' threads carry their names where the OS shows them; start-up objects are frozen."""

from __future__ import annotations

import gc
import resource
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.lifecycle import (
    RESERVED_AFTER,
    PeriodicPart,
    StopBudget,
    ThreadedPart,
    freeze_startup_objects,
    raise_open_files_limit,
    set_os_thread_name,
)
from openclaw_trace.stats import Stats

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="thread names in /proc are Linux's")


def os_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


class Idle(ThreadedPart):
    def __init__(self) -> None:
        super().__init__("oct-test-part")
        self.native_id = 0
        self.ready = threading.Event()

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        self.ready.set()
        self._stop.wait()


@linux_only
def test_a_threaded_part_is_named_for_the_os() -> None:
    part = Idle()
    part.start()
    try:
        assert part.ready.wait(5)
        assert os_name(part.native_id) == "oct-test-part"
    finally:
        assert part.stop(5)


@linux_only
def test_long_names_are_cut_to_what_the_kernel_keeps() -> None:
    seen: list[str] = []

    def run() -> None:
        set_os_thread_name("oct-a-very-long-thread-name")
        seen.append(os_name(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    assert seen == ["oct-a-very-long"]


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def tracked(obj: object) -> bool:
    """Whether the cyclic collector's passes visit ``obj`` (frozen objects are left out)."""
    return any(candidate is obj for candidate in gc.get_objects())


def test_start_up_objects_leave_the_collectors_passes_and_later_cycles_are_still_collected() -> None:
    old = Node()
    assert tracked(old)
    try:
        assert freeze_startup_objects() > 0
        assert not tracked(old)
        young = Node()
        young.other = Node()
        young.other.other = young  # a cycle only the collector can free
        assert tracked(young)
        del young
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()


@pytest.fixture()
def open_files_limit() -> Iterator[tuple[int, int]]:
    """The process's (soft, hard) limit of open files, put back afterwards."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    if saved[1] != resource.RLIM_INFINITY and saved[1] <= 256:
        pytest.skip("the hard limit leaves nothing to raise")
    try:
        yield saved
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_a_low_open_files_limit_is_raised_as_far_as_the_hard_limit_allows(open_files_limit: tuple[int, int]) -> None:
    _, hard = open_files_limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
    wanted = 300 if hard == resource.RLIM_INFINITY else min(300, hard)
    assert raise_open_files_limit(wanted) == wanted
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (wanted, hard)


def test_a_high_open_files_limit_is_never_lowered(open_files_limit: tuple[int, int]) -> None:
    _, hard = open_files_limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    assert raise_open_files_limit(100) == 256
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (256, hard)


class Flaky(PeriodicPart):
    """Fails its first two ticks, then succeeds."""

    name = "flaky"

    def __init__(self, stats: Stats) -> None:
        super().__init__("oct-flaky", stats, interval_s=0.01, first_delay_s=0)
        self.ticks = 0
        self.succeeded = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks <= 2:
            raise RuntimeError(f"tick {self.ticks} broke")
        self.succeeded.set()


def test_a_periodic_part_counts_a_failing_tick_and_tries_again_next_interval() -> None:
    stats = Stats()
    part = Flaky(stats)
    part.start()
    try:
        assert part.succeeded.wait(10)
    finally:
        assert part.stop(5)
    health = part.loop_health()
    assert (health["failures"], health["last_error"], health["alive"]) == (2, "RuntimeError: tick 2 broke", False)
    assert stats.snapshot().counters["flaky.failures"] == 2


def test_a_stop_budget_hands_each_step_what_is_left_but_what_later_steps_keep() -> None:
    budget = StopBudget(15.0)
    assert budget.remaining_s() == 15.0 and budget.elapsed_s() == 0.0  # not started: the whole deadline
    assert budget.begin() and not budget.begin()  # one clock, started once
    drain = budget.for_step("drain", also_reserved_s=4.0)
    assert 15.0 - RESERVED_AFTER["drain"] - 4.0 - 1.0 < drain <= 15.0 - RESERVED_AFTER["drain"] - 4.0
    # Each later step keeps back less: what it gets never shrinks along the stop's order.
    steps = [budget.for_step(step) for step in ("drain", "parts_after_drain", "writer", "checkpointer")]
    assert steps == sorted(steps)
    assert budget.share(1 / 3) <= budget.remaining_s() / 3 + StopBudget.FLOOR_S


def test_a_spent_stop_budget_still_lets_each_step_try_once() -> None:
    budget = StopBudget(0.0)
    budget.begin()
    assert budget.remaining_s() == 0.0
    assert budget.for_step("writer") == budget.share(1 / 3) == StopBudget.FLOOR_S
