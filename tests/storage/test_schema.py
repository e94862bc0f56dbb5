"""The database file: pragmas, permissions, migrations, read-only connections."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from openclaw_trace.storage import schema
from openclaw_trace.storage.connection import immediate_transaction, open_read_connection, open_write_connection


def test_pragmas_and_permissions(tmp_path: Path) -> None:
    db_path = tmp_path / "nested" / "dirs" / "oct.db"
    conn = open_write_connection(str(db_path))
    schema.migrate(conn)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    conn.execute("INSERT INTO push_log (started_at, status) VALUES (1, 'ok')")  # create the WAL
    for path in (db_path, Path(str(db_path) + "-wal")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
    conn.close()


def test_tables_columns_and_sync_indexes(tmp_path: Path) -> None:
    conn = open_write_connection(str(tmp_path / "oct.db"))
    assert schema.migrate(conn) == [1, 2, 3, 4, 5]
    for table in schema.DATA_TABLES:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert {"id", "trace_id", "created_at", "metadata", "synced", "pushed_at"} <= columns
        indexes = [row[1] for row in conn.execute(f"PRAGMA index_list({table})")]
        index_columns = [[c[2] for c in conn.execute(f"PRAGMA index_info({name})")] for name in indexes]
        assert ["synced", "created_at"] in index_columns
    push_columns = {row[1] for row in conn.execute("PRAGMA table_info(push_log)")}
    assert {"started_at", "status", "events", "bytes", "duration_ms", "error"} <= push_columns
    conn.close()


def test_migrate_is_idempotent_and_recorded(tmp_path: Path) -> None:
    conn = open_write_connection(str(tmp_path / "oct.db"))
    assert schema.migrate(conn) == [1, 2, 3, 4, 5]
    assert schema.migrate(conn) == []
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [1, 2, 3, 4, 5]
    assert schema.current_version(conn) == schema.LATEST_VERSION
    conn.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    conn = open_write_connection(str(tmp_path / "oct.db"))
    schema.migrate(conn)
    conn.execute(f"PRAGMA user_version={schema.LATEST_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        schema.migrate(conn)
    conn.close()


def test_read_connections_cannot_write(tmp_path: Path) -> None:
    db_path = str(tmp_path / "oct.db")
    writer = open_write_connection(db_path)
    schema.migrate(writer)
    reader = open_read_connection(db_path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO push_log (started_at, status) VALUES (1, 'x')")
    reader.close()
    writer.close()


def test_a_transaction_sqlite_already_rolled_back_keeps_the_real_error(tmp_path: Path) -> None:
    conn = open_write_connection(str(tmp_path / "t.db"))

    def fails_after_sqlite_rolled_back() -> None:
        with immediate_transaction(conn):
            conn.execute("ROLLBACK")  # what SQLite does by itself on some disk-full or I/O errors
            raise ValueError("the real error")

    with pytest.raises(ValueError, match="the real error"):
        fails_after_sqlite_rolled_back()
    assert not conn.in_transaction
    with immediate_transaction(conn):
        conn.execute("CREATE TABLE t (x)")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()
