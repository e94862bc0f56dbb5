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


def open_descriptor(path: str, first_try: int | None = None) -> int | None:
    """A descriptor this process already has open on the file at ``path``, or None.

    For an fsync of a database file that SQLite holds open: opening and
    closing a descriptor of our own would drop every POSIX lock the process
    holds on the file, SQLite's included. ``first_try`` (the descriptor found
    last time) is checked before the rest. Reads Linux's ``/proc/self/fd``;
    elsewhere only ``first_try`` can be found. The answer is checked against
    the file's device and inode, but may be closed by its owner right after:
    callers must expect ``OSError``, never close it, and lose nothing by an
    fsync of whatever file then reuses the number.
    """
    try:
        target = os.stat(path)
    except OSError:
        return None
    if first_try is not None and _is_open_on(first_try, target):
        return first_try
    try:
        listed = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return None
    return next((fd for fd in listed if _is_open_on(fd, target)), None)


def _is_open_on(fd: int, target: os.stat_result) -> bool:
    try:
        found = os.fstat(fd)
    except OSError:  # closed (the listing's own descriptor, or one closed since)
        return False
    return (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino)


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
