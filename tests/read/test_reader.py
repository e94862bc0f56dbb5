"""The read layer's connections: only our databases, a time limit per query, one snapshot for several reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from openclaw_trace.read.problems import UnusableDatabase
from openclaw_trace.read.reader import open_reader, snapshot, time_limit
from tests.read.conftest import NOW_MS, Store

# Counts to ``n`` in SQLite's virtual machine: as long a query as a test needs, no data needed.
COUNT_TO = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT count(*) FROM n"


def test_a_database_that_is_missing_not_ours_or_newer_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UnusableDatabase, match="no database at"):
        open_reader(str(tmp_path / "nothing.db"))
    (tmp_path / "text.db").write_text("hello")
    with pytest.raises(UnusableDatabase, match="not a database"):
        open_reader(str(tmp_path / "text.db"))
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.close()
    with pytest.raises(UnusableDatabase, match="not an openclaw-trace database"):
        open_reader(str(tmp_path / "other.db"))
    store.conn.execute("PRAGMA user_version=99")
    with pytest.raises(UnusableDatabase, match="schema version 99, newer"):
        open_reader(store.path)


def test_a_reader_reads_rows_by_name_and_cannot_write(store: Store, reader: sqlite3.Connection) -> None:
    store.call(NOW_MS, model="gpt-4o-mini")
    assert reader.execute("SELECT model FROM llm_traces").fetchone()["model"] == "gpt-4o-mini"
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM llm_traces")


def test_a_query_over_its_time_is_cut_short_and_the_next_one_is_not(reader: sqlite3.Connection) -> None:
    cut_short = pytest.raises(UnusableDatabase, match="took longer than 0 s; narrow the window or the filters")
    with cut_short, time_limit(reader, 0):  # past its deadline at the first look at the clock
        reader.execute(COUNT_TO, (10_000_000,)).fetchone()
    with time_limit(reader, 60):
        assert reader.execute(COUNT_TO, (100_000,)).fetchone()[0] == 100_000
    assert reader.execute(COUNT_TO, (100_000,)).fetchone()[0] == 100_000  # no limit left behind


def test_other_errors_inside_a_time_limit_are_left_as_they_are(reader: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"), time_limit(reader, 60):
        reader.execute("SELECT * FROM nowhere")


def test_reads_in_a_snapshot_see_one_state_of_the_database(store: Store, reader: sqlite3.Connection) -> None:
    def count() -> int:
        return int(reader.execute("SELECT count(*) FROM llm_traces").fetchone()[0])

    store.call(NOW_MS)
    with snapshot(reader):
        before = count()
        store.call(NOW_MS)  # the writer commits meanwhile
        with snapshot(reader):  # nested: the same snapshot, not a new one
            assert count() == before == 1
        assert count() == 1
    assert count() == 2
    assert not reader.in_transaction
