"""Which log files the tailer may read: files no other local user could have planted.

``OCT_LOG_PATH=auto`` follows ``/tmp/openclaw/``, a directory any local
user can create first. Whoever owns the directory can plant forged lines
(stored and pushed as the gateway's) or a symlink to a file only the daemon
may read. So a file is read only when it, and the directory entry that
leads to it, pass these checks:

- the file is a regular file (not a symlink: opened with ``O_NOFOLLOW``; not
  a FIFO that would block the open: ``O_NONBLOCK``), owned by a trusted user,
  and not writable by others;
- its directory is owned by a trusted user (and, if it is a symlink, so is
  the link), and is not writable by others unless it is sticky like
  ``/tmp``, where others cannot replace a file they do not own.

Trusted users: the daemon's own, root, and ``OCT_LOG_OWNER`` (the gateway's
user, when it runs as another one). A refused path is remembered with why,
for the log (once per path) and ``/health``.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
from collections.abc import Iterable

log = logging.getLogger("openclaw_trace.tailer")

_REFUSALS_KEPT = 64
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class Trust:
    """The checks above for one tailer, and the paths they refused."""

    def __init__(self, extra_owners: Iterable[int] = ()) -> None:
        self.uids = frozenset({os.geteuid(), 0, *extra_owners})
        self.refused: dict[str, str] = {}  # path → why, the latest last (the tailer's thread only)
        self.last_refused: str | None = None  # "path: why", for health() from any thread

    def file_problem(self, info: os.stat_result) -> str | None:
        """Why a file with this ``lstat``/``fstat`` may not be read, or None."""
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file" + (" (a symlink)" if stat.S_ISLNK(info.st_mode) else "")
        if info.st_uid not in self.uids:
            return f"owned by {_user(info.st_uid)}, not a trusted user (see OCT_LOG_OWNER)"
        if info.st_mode & stat.S_IWOTH:
            return "writable by any user"
        return None

    def directory_problem(self, directory: str) -> str | None:
        """Why files in ``directory`` may not be read, or None."""
        try:
            entry = os.lstat(directory)
            info = os.stat(directory)
        except OSError as exc:
            return f"directory {directory}: {exc.strerror}"
        if stat.S_ISLNK(entry.st_mode) and entry.st_uid not in self.uids:
            return f"directory {directory} is a symlink owned by {_user(entry.st_uid)}, not a trusted user"
        if info.st_uid not in self.uids:
            return f"directory {directory} is owned by {_user(info.st_uid)}, not a trusted user (see OCT_LOG_OWNER)"
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
            return f"directory {directory} is writable by any user"
        return None

    def checked_stat(self, path: str) -> os.stat_result | None:
        """The ``lstat`` of a file the tailer may read; None when it is missing or refused."""
        try:
            info = os.lstat(path)
        except OSError:
            return None
        problem = self.file_problem(info)
        if problem is None:
            problem = self.directory_problem(os.path.dirname(path) or ".")
        if problem is not None:
            self.refuse(path, problem)
            return None
        return info

    def refuse(self, path: str, problem: str) -> None:
        if self.refused.get(path) != problem:  # said once per path and reason, not at every poll
            log.warning("not reading %s: %s", path, problem)
        self.refused.pop(path, None)
        self.refused[path] = problem
        self.last_refused = f"{path}: {problem}"
        while len(self.refused) > _REFUSALS_KEPT:
            del self.refused[next(iter(self.refused))]
