"""One daemon per database: an exclusive ``flock`` on ``<db>.lock``, held for the daemon's life.

Why this kind of lock, on this file:

- The kernel drops a ``flock`` when the last descriptor of its open file
  description closes, so a daemon killed with ``kill -9`` leaves nothing
  locked; the file stays behind with a stale PID, which is harmless.
- A file of its own, not the database: SQLite takes POSIX (``fcntl``) locks
  on the database file, and a process drops every POSIX lock it holds on a
  file as soon as it closes any descriptor of that file, so we never open
  the database file ourselves to lock it.
- ``flock`` locks belong to an open file description, not to a process: two
  daemons in one process (as tests run them) exclude each other as two
  processes do, where POSIX locks would let both in.
- Never deleted: unlinking a lock file that another process has just opened
  would let two processes each lock "the" file on two different inodes.

A forked child inherits the descriptor and, with it, a share of the lock.
The writer process closes every inherited descriptor when it starts, and
closing is not unlocking (only ``LOCK_UN`` or the last close is), so the lock
stays the daemon's alone and dies with the daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_SUFFIX = ".lock"

# The PID and a newline: a few bytes are enough, a bigger file is not ours.
MAX_PID_BYTES = 32


def lock_path(db_path: str) -> str:
    """The lock file beside the database: ``<db_path>.lock``."""
    return db_path + LOCK_SUFFIX


class DatabaseInUse(Exception):
    """Another daemon holds the database's lock; ``holder_pid`` is None when it could not be read."""

    def __init__(self, db_path: str, holder_pid: int | None) -> None:
        holder = f"pid {holder_pid}" if holder_pid is not None else "pid unknown"
        super().__init__(f"{db_path} is in use by another openclaw-trace daemon ({holder})")
        self.db_path = db_path
        self.holder_pid = holder_pid


class LockFileError(Exception):
    """The lock file could not be made, opened, locked or written.

    ``str()`` says which, about "its lock file", to follow "cannot use database <path>: ".
    """


class DatabaseLock:
    """The held lock of one database. Not thread-safe; ``release()`` is idempotent.

    Take it with ``acquire`` before anything opens the database.
    """

    def __init__(self, db_path: str, fd: int) -> None:
        self.db_path = db_path
        self.path = lock_path(db_path)
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db_path: str) -> DatabaseLock:
        """Lock ``<db_path>.lock`` without waiting and write our PID into it.

        Creates the database's directory (0700) and the lock file (0600) when
        missing. Raises ``DatabaseInUse`` when another holder has it,
        ``LockFileError`` when the lock file cannot be made, opened, locked or
        written, and ``OSError`` (with the directory as ``filename``) when the
        directory cannot be made.
        """
        path = lock_path(db_path)
        Path(db_path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # No O_TRUNC: the file may be another daemon's, with its PID in it.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            verb = "open" if os.path.lexists(path) else "create"
            raise LockFileError(f"cannot {verb} its lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DatabaseInUse(db_path, holder) from None
        except OSError as exc:  # ENOLCK: a file system without locks (some network mounts)
            os.close(fd)
            raise LockFileError(f"cannot lock its lock file {path}: {exc.strerror}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk
            os.close(fd)  # the last close: the lock goes with it
            raise LockFileError(f"cannot write its lock file {path}: {exc.strerror}") from None
        return cls(db_path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close. Only the holder calls it: ``LOCK_UN`` also unlocks every inherited copy."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The PID the holder wrote, or None (not written yet, or not a number)."""
    try:
        text = os.pread(fd, MAX_PID_BYTES, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
