"""One open log file: reading complete lines from it and telling whether it was truncated or replaced.

Used by ``tail.FileFollower``, which decides which file to follow; this
module only reads. The descriptor stays open across renames (rotation by
rename keeps reading the old file to its end).
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import NamedTuple

from openclaw_trace.collectors.logs.trust import OPEN_FLAGS, Trust

MAX_LINE_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
HEAD_BYTES = 256  # how much of a file's first line identifies it (for copy detection)


class Identity(NamedTuple):
    device: int
    inode: int


class Line(NamedTuple):
    text: str
    end_offset: int  # offset in the followed file to store once this line is used
    truncated: bool


def _head(fd: int) -> bytes | None:
    """The file's first line (up to HEAD_BYTES), or None while it has no complete first line."""
    data = os.pread(fd, HEAD_BYTES, 0)
    newline = data.find(b"\n")
    if newline >= 0:
        return data[: newline + 1]
    return data if len(data) == HEAD_BYTES else None


def starts_with(path: str, head: bytes) -> bool | None:
    """Whether the file begins with ``head``; None while it is still a (shorter) prefix of it."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError:
        return False
    try:
        data = os.pread(fd, len(head), 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    if data == head:
        return True
    return None if head.startswith(data) else False


def _decode(data: bytes) -> str:
    if data.endswith(b"\r"):
        data = data[:-1]
    return data.decode("utf-8", "replace")


class OpenFile:
    """One open file read from ``offset`` on; yields complete lines."""

    def __init__(self, path: str, fd: int, identity: Identity, offset: int, max_line_bytes: int) -> None:
        self.path = path
        self.fd = fd
        self.identity = identity
        self.offset = offset  # just past the last line handed out
        self.head = _head(fd)
        self._max = max_line_bytes
        self._read_pos = offset  # where the next read starts
        self._buf = b""
        self._start = 0  # first unconsumed byte in _buf
        self._kept: bytes | None = None  # head of an over-long line whose rest is skipped
        self._kept_len = 0  # bytes of that line consumed so far
        # Files not changed since this time were there before this file was followed: never
        # "missed". The predecessor's modification time when it was left, else this file's at open.
        self.floor_mtime_ns = 0

    @classmethod
    def open(cls, path: str, offset: int, max_line_bytes: int, trust: Trust) -> OpenFile | None:
        """The file opened at ``offset``; None when it is missing or ``trust`` refuses it (checked
        again on the open descriptor: the path may have been swapped since it was listed)."""
        try:
            fd = os.open(path, OPEN_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
                trust.refuse(path, "not a regular file (a symlink)")
            return None
        info = os.fstat(fd)
        problem = trust.file_problem(info)
        if problem is not None:
            os.close(fd)
            trust.refuse(path, problem)
            return None
        opened = cls(path, fd, Identity(info.st_dev, info.st_ino), offset, max_line_bytes)
        opened.floor_mtime_ns = info.st_mtime_ns
        return opened

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)

    @property
    def pending(self) -> bool:
        """A partial line is waiting for its newline."""
        return self._kept is not None or self._start < len(self._buf)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def mtime_ns(self) -> int:
        return os.fstat(self.fd).st_mtime_ns

    def truncated(self) -> bool:
        """Shrunk below what was read, or rewritten from the start (its first line changed)."""
        return self.size() < self._read_pos or not self._head_unchanged()

    def _head_unchanged(self) -> bool:
        # A file truncated and written again past our offset between two polls keeps its size
        # but not its first line: that is how copy-and-truncate is noticed in that case.
        head = self.head
        return head is None or os.pread(self.fd, len(head), 0) == head

    def restart_at_zero(self) -> None:
        self.offset = self._read_pos = self._start = self._kept_len = 0
        self._buf = b""
        self._kept = None
        self.head = _head(self.fd)

    def read_lines(self, max_lines: int, final: bool = False) -> list[Line]:
        """Up to ``max_lines`` complete lines; with ``final`` an unterminated last line too."""
        lines: list[Line] = []
        while len(lines) < max_lines:
            newline = self._buf.find(b"\n", self._start)
            if newline < 0:
                self._compact()
                chunk = os.pread(self.fd, READ_CHUNK_BYTES, self._read_pos)
                if chunk and not self._head_unchanged():
                    break  # the chunk may be new content after a truncation: the caller starts over
                if chunk:
                    self._read_pos += len(chunk)
                    self._buf += chunk
                    continue
                if final and self.pending:
                    lines.append(self._take(len(self._buf), 0))
                break
            lines.append(self._take(newline, 1))
        if self.head is None:
            self.head = _head(self.fd)
        return lines

    def _compact(self) -> None:
        """Drop consumed bytes; past ``max_line_bytes`` keep the line's head and skip the rest."""
        rest = self._buf[self._start :]
        self._start = 0
        if self._kept is not None:
            self._kept_len += len(rest)
            rest = b""
        elif len(rest) > self._max:
            self._kept, self._kept_len = rest[: self._max], len(rest)
            rest = b""
        self._buf = rest

    def _take(self, end: int, newline: int) -> Line:
        data = self._buf[self._start : end]
        length = end - self._start + newline
        truncated = False
        if self._kept is not None:
            data, length, truncated = self._kept, self._kept_len + length, True
            self._kept, self._kept_len = None, 0
        elif len(data) > self._max:
            data, truncated = data[: self._max], True
        self._start = end + newline
        self.offset += length
        return Line(_decode(data), self.offset, truncated)
