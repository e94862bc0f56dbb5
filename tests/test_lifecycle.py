"""Background parts' threads carry their names where the OS shows them."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from openclaw_trace.lifecycle import ThreadedPart, set_os_thread_name

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="thread names in /proc are Linux's")


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


def test_a_threaded_part_is_named_for_the_os() -> None:
    part = Idle()
    part.start()
    try:
        assert part.ready.wait(5)
        assert os_name(part.native_id) == "oct-test-part"
    finally:
        assert part.stop(5)


def test_long_names_are_cut_to_what_the_kernel_keeps() -> None:
    seen: list[str] = []

    def run() -> None:
        set_os_thread_name("oct-a-very-long-thread-name")
        seen.append(os_name(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    assert seen == ["oct-a-very-long"]
