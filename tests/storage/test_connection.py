"""Finding the descriptors SQLite holds on the database, without opening one of our own."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from openclaw_trace.storage.connection import descriptors_open_on, open_write_connection


def test_a_connection_adds_the_descriptor_it_opened(tmp_path: Path) -> None:
    db_path = str(tmp_path / "d.db")
    writer = open_write_connection(db_path)
    try:
        before = descriptors_open_on(db_path)
        assert before  # the writer's
        reader = sqlite3.connect(db_path)  # how the checkpointer finds its own
        try:
            [mine] = descriptors_open_on(db_path) - before
            assert os.path.samestat(os.fstat(mine), os.stat(db_path))
            os.fdatasync(mine)  # what the checkpointer does with it
        finally:
            reader.close()
        assert descriptors_open_on(db_path) == before
    finally:
        writer.close()


def test_nothing_is_found_once_nothing_holds_the_file_open(tmp_path: Path) -> None:
    db_path = str(tmp_path / "d.db")
    open_write_connection(db_path).close()
    other = tmp_path / "other"
    other.write_bytes(b"x")
    with open(other, "rb"):  # a file open under another name is not the database
        assert descriptors_open_on(db_path) == set()
    assert descriptors_open_on(str(tmp_path / "missing.db")) == set()


def test_none_binds_as_null_beside_every_other_type(tmp_path: Path) -> None:
    # The module registers an adapter for None (a shortcut past sqlite3's adaptation
    # protocol); every way of binding must still store None as NULL, and the values
    # beside it as they went in.
    adapter = sqlite3.adapters.get((type(None), sqlite3.PrepareProtocol))
    assert adapter is not None and adapter(None) is None  # the shortcut is in place, and harmless
    conn = open_write_connection(str(tmp_path / "t.db"))
    try:
        values = (None, 7, 2.5, "text", None, bytearray(b"\x00\x01"), b"\x02")
        row = conn.execute("SELECT ?, ?, ?, ?, ?, ?, ?, typeof(?)", (*values, None)).fetchone()
        named = conn.execute("SELECT :a, typeof(:a), :b", {"a": None, "b": 3}).fetchone()
        conn.execute("CREATE TABLE t (a, b)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(None, 1), (2, None)])
        stored = conn.execute("SELECT typeof(a), typeof(b) FROM t ORDER BY rowid").fetchall()
    finally:
        conn.close()
    assert row == (None, 7, 2.5, "text", None, b"\x00\x01", b"\x02", "null")
    assert named == (None, "null", 3)
    assert stored == [("null", "integer"), ("integer", "null")]
