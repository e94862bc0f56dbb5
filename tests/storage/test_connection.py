"""Finding a descriptor SQLite holds on the database, without opening one of our own."""

from __future__ import annotations

import os
from pathlib import Path

from openclaw_trace.storage.connection import open_descriptor, open_write_connection


def test_the_descriptor_found_is_one_open_on_the_database(tmp_path: Path) -> None:
    db_path = str(tmp_path / "d.db")
    conn = open_write_connection(db_path)
    try:
        fd = open_descriptor(db_path)
        assert fd is not None
        assert os.path.samestat(os.fstat(fd), os.stat(db_path))
        os.fdatasync(fd)  # what the checkpointer does with it
        # The one found last time is taken again.
        assert open_descriptor(db_path, first_try=fd) == fd
    finally:
        conn.close()


def test_no_descriptor_once_nothing_holds_the_file_open(tmp_path: Path) -> None:
    db_path = str(tmp_path / "d.db")
    conn = open_write_connection(db_path)
    fd = open_descriptor(db_path)
    conn.close()
    assert open_descriptor(db_path, first_try=fd) is None
    assert open_descriptor(str(tmp_path / "missing.db")) is None


def test_a_stale_hint_is_checked_not_trusted(tmp_path: Path) -> None:
    db_path = str(tmp_path / "d.db")
    other = tmp_path / "other"
    other.write_bytes(b"x")
    with open(other, "rb") as unrelated:
        conn = open_write_connection(db_path)
        try:
            fd = open_descriptor(db_path, first_try=unrelated.fileno())
            assert fd is not None and fd != unrelated.fileno()
        finally:
            conn.close()
