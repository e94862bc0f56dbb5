"""Following log files: which file, where in it, and what happens when it rotates.

A ``FileFollower`` hands out complete lines of one file at a time, each with
the byte offset just past it, so that the caller can store "this file
(device, inode), this offset" together with what it made of those lines.

- **Which file.** The setting names a file, a directory (its ``*.log``), a
  glob, or ``auto`` (``/tmp/openclaw/openclaw-YYYY-MM-DD[.N].log``). Files are
  ordered by modification time: the followed file is left only when a
  *newer* candidate exists (the next day's file, the file the gateway
  rotated to, the new file after a rename), and only after it has been read
  to its end. The next file is the oldest of the newer ones, so a burst of
  rotations between two polls is still read in order.
- **Rename rotation.** The open descriptor keeps reading the renamed file;
  the new file at the old name is a newer candidate.
- **Copy-and-truncate.** A file that shrinks below the read offset was
  truncated: reading restarts at 0. Lines written between the last read and
  the copy are taken from the copy (a candidate whose first line equals the
  followed file's). Such copies are never followed as new files.
- **Missed files.** A file that changed after the followed one was reached but is
  older than it — created, filled and rotated away between two polls — is read
  whole beside the followed file (its lines keep the followed file's position).
- **Lines.** Only complete lines are handed out; a partial last line waits
  for its newline (a finished file's unterminated last line is handed out
  when the follower moves on). Lines longer than ``max_line_bytes`` keep
  their first ``max_line_bytes`` and skip the rest up to the newline. A
  trailing CR is dropped; invalid UTF-8 is replaced.

Not thread-safe: one tailer thread owns a follower. Blocking only on local
file reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import re

from openclaw_trace.collectors.logs.open_file import (
    MAX_LINE_BYTES,
    Identity,
    Line,
    OpenFile,
    starts_with,
)
from openclaw_trace.collectors.logs.trust import Trust

__all__ = ["MAX_LINE_BYTES", "Batch", "FileFollower", "Line", "Position", "candidates"]

AUTO_GLOB = "/tmp/openclaw/openclaw-*.log"
_AUTO_NAME = re.compile(r"^openclaw-\d{4}-\d{2}-\d{2}(?:\.\d+)?\.log$")
_FINISHED_MEMORY = 256


@dataclasses.dataclass(frozen=True)
class Position:
    """Where reading stands: the file's path and identity and the offset after the last line used."""

    file_path: str
    device: int
    inode: int
    offset: int
    updated_at_ms: int = 0

    @property
    def identity(self) -> Identity:
        return Identity(self.device, self.inode)


@dataclasses.dataclass
class Batch:
    """Complete lines of one followed file and the position to store after them."""

    lines: list[Line]
    position: Position


def candidates(spec: str) -> tuple[list[str], list[str]]:
    """(files that may be followed, files only searched for a stored identity)."""
    if spec == "auto":
        found = [p for p in glob.glob(AUTO_GLOB) if _AUTO_NAME.match(os.path.basename(p))]
        return found, found
    if os.path.isdir(spec):
        found = glob.glob(os.path.join(glob.escape(spec), "*.log"))
        return found, found
    if glob.has_magic(spec):
        found = glob.glob(spec)
        return found, found
    stem, suffix = os.path.splitext(glob.escape(spec))
    renamed = glob.glob(glob.escape(spec) + ".*") + glob.glob(f"{stem}.*{suffix}")
    return [spec], [spec, *renamed]


class FileFollower:
    """Follows the newest file of ``spec`` through rotations; see the module docstring.

    ``read(max_lines)`` returns a ``Batch`` of one file's lines (possibly
    empty lines list with a changed position) or None when there is nothing
    new. Counters (``rotations``, ``truncations``, ``files_opened``) are
    plain ints for ``health``.
    """

    def __init__(
        self, spec: str, start: Position | None, max_line_bytes: int = MAX_LINE_BYTES, trust: Trust | None = None
    ) -> None:
        self.spec = spec
        self.trust = trust or Trust()
        self._start = start
        self._max = max_line_bytes
        self.current: OpenFile | None = None
        # Left behind or recognised as copies: never followed again. The first line is kept with
        # the identity because a deleted file's inode may be reused by a new file.
        self._finished: dict[Identity, bytes | None] = {}
        self._moving_on = False
        self.rotations = 0
        self.truncations = 0
        self.files_opened = 0
        self.missed_files = 0
        self._missed: OpenFile | None = None  # a missed file being read (see _scan)

    def close(self) -> None:
        for opened in (self.current, self._missed):
            if opened is not None:
                opened.close()
        self.current = self._missed = None

    def position(self) -> Position | None:
        return None if self.current is None else self._position(self.current)

    def read(self, max_lines: int) -> Batch | None:
        if self.current is None and not self._open_first():
            return None
        current = self.current
        assert current is not None
        missed_batch = self._read_missed(current, max_lines)  # older lines first
        if missed_batch is not None:
            return missed_batch
        if current.truncated():
            return self._after_truncation(current, max_lines)
        lines = current.read_lines(max_lines)
        if lines:
            self._moving_on = False
            return Batch(lines, self._position(current))
        missed, successor = self._scan(current)
        if missed is not None:
            self._missed = OpenFile.open(missed, 0, self._max, self.trust)
            return self._read_missed(current, max_lines)
        if successor is None:
            self._moving_on = False
            return None
        if current.pending and not self._moving_on:
            # The writer may still be finishing the last line: give it one more poll.
            self._moving_on = True
            return None
        if current.truncated():
            # Checked again now that a newer file exists: truncated and rewritten since the
            # check above, it must be read again before it is left behind.
            return self._after_truncation(current, max_lines)
        lines = current.read_lines(max_lines, final=True)
        if lines:
            return Batch(lines, self._position(current))
        if not self._switch_to(successor):
            return None
        new = self.current
        assert new is not None
        return Batch([], self._position(new))

    # -- choosing files --------------------------------------------------------

    @staticmethod
    def _position(current: OpenFile) -> Position:
        return Position(current.path, current.identity.device, current.identity.inode, current.offset)

    def _remember_finished(self, identity: Identity, head: bytes | None) -> None:
        self._finished.pop(identity, None)
        self._finished[identity] = head
        while len(self._finished) > _FINISHED_MEMORY:
            del self._finished[next(iter(self._finished))]

    def _is_finished(self, path: str, identity: Identity) -> bool:
        if identity not in self._finished:
            return False
        head = self._finished[identity]
        return head is None or starts_with(path, head) is not False

    def _open(self, path: str, offset: int) -> bool:
        opened = OpenFile.open(path, offset, self._max, self.trust)
        if opened is None:
            return False
        self.current = opened
        self.files_opened += 1
        return True

    def _open_first(self) -> bool:
        followable, searchable = candidates(self.spec)
        start = self._start
        if start is not None:
            for path in dict.fromkeys([*searchable, start.file_path]):
                info = self.trust.checked_stat(path)
                if info is not None and Identity(info.st_dev, info.st_ino) == start.identity:
                    return self._resume(path, start.offset)
        stats = [(info.st_mtime_ns, path) for path in followable if (info := self.trust.checked_stat(path)) is not None]
        if not stats:
            return False
        stats.sort()
        if start is None:
            return self._open(stats[-1][1], 0)
        # The stored file is gone: read what was written since the position was stored.
        newer = [path for mtime_ns, path in stats if mtime_ns > start.updated_at_ms * 1_000_000]
        if newer:
            return self._open(newer[0], 0)
        path = stats[-1][1]
        info = self.trust.checked_stat(path)
        return self._open(path, info.st_size if info else 0)

    def _resume(self, path: str, offset: int) -> bool:
        if not self._open(path, 0):
            return False
        current = self.current
        assert current is not None
        size = current.size()
        # A position always ends a line; anything else means the inode was reused or the file rewritten.
        if 0 < offset <= size and os.pread(current.fd, 1, offset - 1) == b"\n":
            current.offset = current._read_pos = offset
        return True

    def _scan(self, current: OpenFile) -> tuple[str | None, str | None]:
        """(a missed file, the successor): candidates changed since the followed file was opened.

        The successor is the oldest file newer than the followed one. A *missed* file changed
        since the followed file's floor time but is not newer than it: a file created, filled and
        rotated away between two polls (e.g. copied and truncated before its first line was
        read here). It is read once, whole, beside the followed file.
        """
        followable, _ = candidates(self.spec)
        try:
            current_mtime = current.mtime_ns()
        except OSError:
            return None, None
        newer: list[tuple[int, str]] = []
        missed: list[tuple[int, str]] = []
        for path in followable:
            info = self.trust.checked_stat(path)
            if info is None:
                continue
            identity = Identity(info.st_dev, info.st_ino)
            replaced = path == current.path  # renamed away, a new file took the name
            if identity == current.identity or (info.st_mtime_ns <= current.floor_mtime_ns and not replaced):
                continue
            if self._is_finished(path, identity):
                continue
            if current.head is None:
                if replaced or info.st_mtime_ns > current_mtime:
                    newer.append((info.st_mtime_ns, path))
                continue  # without our first line, a copy cannot be told from a missed file
            copy = starts_with(path, current.head)
            if copy is None:
                continue  # too short to tell a copy being written from a new file: next poll
            if copy:
                self._remember_finished(identity, current.head)  # a copy of the followed file
            elif replaced or info.st_mtime_ns > current_mtime:
                newer.append((info.st_mtime_ns, path))
            else:
                missed.append((info.st_mtime_ns, path))
        return (min(missed)[1] if missed else None), (min(newer)[1] if newer else None)

    def _read_missed(self, current: OpenFile, max_lines: int) -> Batch | None:
        """The next lines of the missed file being read, at the followed file's position."""
        missed = self._missed
        if missed is None:
            return None
        lines = missed.read_lines(max_lines, final=True)
        if not lines:
            self._remember_finished(missed.identity, missed.head)
            missed.close()
            self._missed = None
            self.missed_files += 1
            return None
        return Batch([Line(line.text, current.offset, line.truncated) for line in lines], self._position(current))

    def _switch_to(self, path: str) -> bool:
        """Leave the followed file for ``path``; False (and nothing changed) if it cannot be opened."""
        old = self.current
        assert old is not None
        opened = OpenFile.open(path, 0, self._max, self.trust)
        if opened is None:
            return False
        with contextlib.suppress(OSError):
            opened.floor_mtime_ns = old.mtime_ns()
        self._remember_finished(old.identity, old.head)
        old.close()
        self.current = opened
        self.files_opened += 1
        self.rotations += 1
        return True

    def _after_truncation(self, current: OpenFile, max_lines: int) -> Batch:
        """Copy-and-truncate: start over at 0; the lines after our offset are read from the copy."""
        self.truncations += 1
        _, searchable = candidates(self.spec)
        head = current.head
        for path in searchable if head is not None else ():
            info = self.trust.checked_stat(path)
            if info is None or Identity(info.st_dev, info.st_ino) == current.identity:
                continue
            if head is None or starts_with(path, head) is not True:
                continue
            self._remember_finished(Identity(info.st_dev, info.st_ino), head)
            if self._missed is None and info.st_size > current.offset:
                # Read in pieces like a missed file: the gap may be large after a long queue wait.
                self._missed = OpenFile.open(path, current.offset, self._max, self.trust)
        current.restart_at_zero()
        return self._read_missed(current, max_lines) or Batch([], self._position(current))
