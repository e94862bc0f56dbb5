"""Read-only connections for the read layer, checked to be ours, with a time limit per query.

``open_reader`` refuses, in one line, a database that does not exist, is not
SQLite, is not openclaw-trace's, or was written by a newer openclaw-trace.
``time_limit`` aborts a query that runs longer than its budget through
SQLite's progress handler, so a heavy read cannot hold a reader thread (or
the WAL's checkpoint) for long.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from openclaw_trace.read.problems import UnusableDatabase
from openclaw_trace.storage.connection import open_read_connection
from openclaw_trace.storage.schema import LATEST_VERSION, current_version

# How often (in SQLite virtual-machine steps) the progress handler looks at the clock.
_PROGRESS_STEPS = 10_000


def open_reader(db_path: str) -> sqlite3.Connection:
    """A ``mode=ro`` connection to an openclaw-trace database, rows as ``sqlite3.Row``."""
    if not Path(db_path).is_file():
        raise UnusableDatabase(f"no database at {db_path} (start the daemon once, or name one with --db)")
    try:
        conn = open_read_connection(db_path)
        version = current_version(conn)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise UnusableDatabase(f"{db_path} is not a database openclaw-trace can read: {exc}") from None
    if "llm_traces" not in tables or version < 1:
        conn.close()
        raise UnusableDatabase(f"{db_path} is not an openclaw-trace database")
    if version > LATEST_VERSION:
        conn.close()
        raise UnusableDatabase(
            f"{db_path} has schema version {version}, newer than this openclaw-trace reads ({LATEST_VERSION});"
            " upgrade openclaw-trace"
        )
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def time_limit(conn: sqlite3.Connection, seconds: float) -> Iterator[None]:
    """Queries on ``conn`` inside the block are interrupted after ``seconds`` (UnusableDatabase)."""
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise UnusableDatabase(
                f"the query took longer than {seconds:g} s; narrow the window or the filters"
            ) from None
        raise
    finally:
        conn.set_progress_handler(None, 0)


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Every query inside the block sees the same state of the database (one read transaction); nests.

    The rollups and the rows past their mark must be read together: between two
    separate reads the writer may move the mark.
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")
