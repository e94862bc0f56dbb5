"""Opening the database: the one write connection and read-only connections.

The write connection is opened once by the daemon and then owned by the
writer thread. Everything that only reads opens ``mode=ro`` connections, so
a bug in a read path cannot write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000

# CPython's sqlite3 binds int, float, str and bytearray directly but sends
# None through its adaptation protocol, which fails a lookup of
# ``PrepareProtocol.__adapt__`` (an AttributeError built and cleared) before
# binding NULL. A registered adapter is found first; ``{}.get`` is a C
# callable that returns None for any argument, so None still binds as NULL,
# for ~2,100 instructions less per None, GIL held: the writer's GIL-held work
# on a 50-event bench batch (3 empty columns per row) went from 1.70M to
# 1.39M instructions (bench/writer_instructions.py).
# Process-wide, which is the point: every connection binds None the same way.
_NOTHING: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)

# The writer caches one multi-row INSERT per batch size and table.
STATEMENT_CACHE_SIZE = 512


def prepare_db_file(db_path: str) -> None:
    """Create parent directories (0700) and the file (0600) if they are missing.

    SQLite gives its -wal and -shm files the database file's permissions, so
    creating the file ourselves keeps all three readable by the owner only.
    """
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


def open_write_connection(db_path: str) -> sqlite3.Connection:
    """The single write connection: WAL, synchronous=NORMAL, incremental auto-vacuum.

    ``isolation_level=None``: we issue BEGIN/COMMIT ourselves, so a one-table
    batch can be a single autocommitted multi-row INSERT.
    """
    prepare_db_file(db_path)
    conn = sqlite3.connect(
        db_path,
        isolation_level=None,
        check_same_thread=False,  # opened by the daemon, then owned by the writer thread
        cached_statements=STATEMENT_CACHE_SIZE,
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # auto_vacuum only takes effect before the first table exists; on an
    # existing database this is a no-op and the schema keeps what it had.
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise sqlite3.OperationalError(f"could not switch {db_path} to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def open_read_connection(db_path: str) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``); may be used from any one thread at a time."""
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def wal_path(db_path: str) -> str:
    return db_path + "-wal"


def file_size(path: str) -> int:
    """Size in bytes, 0 when the file does not exist."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def descriptors_open_on(path: str) -> set[int]:
    """The descriptors this process has open on the file at ``path`` (Linux ``/proc``); empty elsewhere.

    Looked up without opening the file: closing a descriptor of our own
    would drop every POSIX lock the process holds on it, SQLite's included.
    """
    try:
        target = os.stat(path)
        listed = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return set()
    found: set[int] = set()
    for fd in listed:
        try:
            candidate = os.fstat(fd)
        except OSError:  # the listing's own descriptor, or one closed since
            continue
        if (candidate.st_dev, candidate.st_ino) == (target.st_dev, target.st_ino):
            found.add(fd)
    return found


@contextlib.contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back if the body raises.

    SQLite may already have rolled back by itself (disk full, I/O error): then
    the ROLLBACK is skipped, so its "no transaction is active" never hides
    the error that caused it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
