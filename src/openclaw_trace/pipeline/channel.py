"""A one-way pipe of pickled messages between the daemon and its writer process.

Each message is a 4-byte big-endian length and a pickle. The reading side
takes everything the pipe holds in one ``os.read`` and returns every whole
message in it: a thread of the daemon that waits for the GIL behind a busy
event loop pays that wait once per read, not once per message (with
``multiprocessing.Connection`` it paid it twice per message, header and body).

Both ends trust each other: they are the same program on either side of a
``fork``. Nothing from outside ever reaches a channel.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import pickle
import select
import struct
import threading
import time
from typing import Any

_HEADER = struct.Struct(">I")
READ_SIZE = 1 << 20
# Linux lets an unprivileged process grow a pipe to /proc/sys/fs/pipe-max-size (1 MiB by
# default); a larger pipe lets the sender run ahead by a few batches instead of waiting.
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class ChannelClosed(Exception):
    """The other end is gone: the pipe was closed or broke."""


def pipe() -> tuple[int, int]:
    """A pipe (read fd, write fd), enlarged where the system allows, not inherited by exec'd programs."""
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):  # the default 64 KiB works, only with more waiting
        fcntl.fcntl(write_fd, _F_SETPIPE_SZ, PIPE_SIZE)
    return read_fd, write_fd


def _ready(fd: int, write: bool, deadline: float) -> bool:
    """Wait until ``fd`` can be written (or read) without blocking, or until ``deadline``."""
    # poll, not select: select refuses descriptors past 1024, which a daemon with a
    # raised open-files limit and many connections may hand out.
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    wait_ms = max(0, math.ceil((deadline - time.monotonic()) * 1000))
    return bool(poller.poll(wait_ms))


class ChannelWriter:
    """Sends messages; thread-safe (one lock around each whole message). Blocks while the pipe is full."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, message: Any, timeout_s: float | None = None) -> None:
        """Send one message; ``ChannelClosed`` when the reader is gone.

        With ``timeout_s`` (for small messages, ≤ PIPE_BUF, which a pipe
        takes whole or not at all): ``TimeoutError`` instead of waiting longer
        for another sender or for room in the pipe.
        """
        payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        data = memoryview(_HEADER.pack(len(payload)) + payload)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if not self._lock.acquire(timeout=-1 if timeout_s is None else timeout_s):
            raise TimeoutError("another message is being sent")
        try:
            if self._fd < 0:
                raise ChannelClosed("this end was closed")
            while data:
                if deadline is not None and not _ready(self._fd, True, deadline):
                    raise TimeoutError("the pipe stayed full")
                data = data[os.write(self._fd, data) :]
        except TimeoutError:  # an OSError too: not a closed channel
            raise
        except OSError as exc:  # EPIPE, or the fd closed under us
            raise ChannelClosed(str(exc)) from None
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class ChannelReader:
    """Receives messages; one thread only."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        # Read into one buffer kept for good: os.read(fd, n) allocates n bytes on every
        # call, and a 1 MiB allocation is an mmap and munmap each time (~0.1 ms).
        self._chunk = bytearray(READ_SIZE)

    def receive(self, timeout_s: float | None = None) -> list[Any]:
        """Block until at least one whole message is here; return all that are. ``ChannelClosed`` at the end.

        With ``timeout_s``: ``TimeoutError`` when nothing whole came in time.
        """
        messages: list[Any] = []
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not messages:
            if self._fd < 0:
                raise ChannelClosed("this end was closed")
            if deadline is not None and not _ready(self._fd, write=False, deadline=deadline):
                raise TimeoutError("no message in time")
            try:
                size = os.readv(self._fd, [self._chunk])
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None
            if not size:
                raise ChannelClosed("the other end closed the pipe")
            self._buffer += memoryview(self._chunk)[:size]
            messages = self._take_whole()
        return messages

    def _take_whole(self) -> list[Any]:
        messages = []
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= _HEADER.size:
            (length,) = _HEADER.unpack_from(buffer, start)
            end = start + _HEADER.size + length
            if end > len(buffer):
                break
            messages.append(pickle.loads(buffer[start + _HEADER.size : end]))
            start = end
        if start:
            del buffer[:start]
        return messages

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
