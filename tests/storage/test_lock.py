"""``DatabaseLock``: one holder per database, across processes and within one, gone with its holder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.storage.lock import DatabaseInUse, DatabaseLock, LockFileError, lock_path

# A holder in a process of its own: takes the lock, says so, and keeps it until stdin closes.
# With "fork", it first forks a child that closes every descriptor it inherited (as the
# writer process does) and exits, before saying so.
HOLDER = textwrap.dedent(
    """
    import os, sys
    from openclaw_trace.storage.lock import DatabaseLock
    lock = DatabaseLock.acquire(sys.argv[1])
    if sys.argv[2] == "fork":
        pid = os.fork()
        if pid == 0:
            os.closerange(3, 4096)
            os._exit(0)
        os.waitpid(pid, 0)
    print("locked", flush=True)
    sys.stdin.read()
    """
)


class Holder:
    """``HOLDER`` running on ``db_path``; ``kill()`` is ``kill -9``."""

    def __init__(self, db_path: str, mode: str = "plain") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, db_path, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "locked\n"  # blocks until it holds the lock

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "data" / "oct.db")


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.close()


def test_the_lock_file_sits_beside_the_database_and_holds_the_pid(db_path: str) -> None:
    lock = DatabaseLock.acquire(db_path)
    try:
        assert lock.path == lock_path(db_path) == db_path + ".lock"
        assert Path(lock.path).read_text() == f"{os.getpid()}\n"
        assert stat.S_IMODE(Path(lock.path).stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(db_path).parent.stat().st_mode) == 0o700
        assert not Path(db_path).exists()  # the database itself is not touched
    finally:
        lock.release()


def test_a_second_lock_in_the_same_process_is_refused(db_path: str) -> None:
    # flock belongs to an open file description: two daemons in one process exclude each other.
    lock = DatabaseLock.acquire(db_path)
    try:
        with pytest.raises(DatabaseInUse) as refused:
            DatabaseLock.acquire(db_path)
        assert refused.value.holder_pid == os.getpid()
        assert str(refused.value) == f"{db_path} is in use by another openclaw-trace daemon (pid {os.getpid()})"
        assert lock.held
    finally:
        lock.release()


def test_release_frees_the_database_is_idempotent_and_leaves_the_file(db_path: str) -> None:
    lock = DatabaseLock.acquire(db_path)
    lock.release()
    lock.release()
    assert not lock.held
    # Kept: deleting it could let two holders lock two different files of one name.
    assert Path(lock_path(db_path)).exists()
    again = DatabaseLock.acquire(db_path)
    again.release()


def test_another_processs_lock_is_refused_with_its_pid_and_freed_by_kill_9(db_path: str, holders: list[Holder]) -> None:
    holders.append(Holder(db_path))
    with pytest.raises(DatabaseInUse) as refused:
        DatabaseLock.acquire(db_path)
    assert refused.value.holder_pid == holders[0].proc.pid
    holders[0].kill()
    lock = DatabaseLock.acquire(db_path)  # the kernel dropped it with its holder
    assert Path(lock.path).read_text() == f"{os.getpid()}\n"  # the stale PID is replaced
    lock.release()


def test_a_forked_child_closing_its_inherited_copy_does_not_unlock(db_path: str, holders: list[Holder]) -> None:
    # As the writer process does at its start: closing a copy is not unlocking.
    holders.append(Holder(db_path, "fork"))
    with pytest.raises(DatabaseInUse):
        DatabaseLock.acquire(db_path)


def test_a_lock_file_that_cannot_be_opened_says_which_file_and_why(db_path: str) -> None:
    Path(lock_path(db_path)).mkdir(parents=True)
    with pytest.raises(LockFileError) as failed:
        DatabaseLock.acquire(db_path)
    assert str(failed.value) == f"cannot open its lock file {lock_path(db_path)}: Is a directory"


def test_a_directory_that_cannot_be_made_raises_oserror_naming_it(tmp_path: Path) -> None:
    in_the_way = tmp_path / "file"
    in_the_way.write_text("")
    with pytest.raises(OSError) as failed:
        DatabaseLock.acquire(str(in_the_way / "sub" / "oct.db"))
    assert failed.value.filename is not None
    assert str(failed.value.filename) == str(in_the_way / "sub")
