"""The SQL that writes, on a real migrated database: multi-row inserts, duplicates superseded, marks, checkpoints."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.storage import rollups, schema, writes
from openclaw_trace.storage.connection import open_write_connection

RUN = "9b0aa24cd189393daa34a88e26ac2480"
OTHER_RUN = "53c7ae2cd1127888747710bb4b16d333"
NOW_MS = 1_800_000_000_000


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    made = open_write_connection(str(tmp_path / "w.db"))
    schema.migrate(made)
    yield made
    made.close()


def row(event_kind: str, trace_id: str, created_at: int = NOW_MS, /, **fields: Any) -> tuple[Any, ...]:
    """A full row of ``event_kind``: the columns not given are NULL, metadata given as a dict is JSON."""
    if isinstance(fields.get("metadata"), dict):
        fields["metadata"] = json.dumps(fields["metadata"])
    values = tuple(fields.pop(column, None) for column in writes.COLUMNS[event_kind])
    assert not fields, f"not columns of {event_kind}: {fields}"
    return (trace_id, created_at, *values)


def call(trace_id: str, source: str, run_key: str, run: str, **fields: Any) -> tuple[Any, ...]:
    metadata = {"source": source, run_key: run}
    return row("trace", trace_id, provider="p", model="m", status="ok", metadata=metadata, **fields)


def error(trace_id: str, source: str, run_key: str, run: str, error_type: str = "llm_error") -> tuple[Any, ...]:
    metadata = {"source": source, run_key: run}
    return row("error", trace_id, error_type=error_type, severity="error", message="failed", metadata=metadata)


def ids(conn: sqlite3.Connection, table: str) -> list[str]:
    return [found for (found,) in conn.execute(f"SELECT trace_id FROM {table} ORDER BY id")]


def test_every_column_the_writer_names_is_in_its_table(conn: sqlite3.Connection) -> None:
    assert set(writes.TABLES) == set(writes.COLUMNS)
    for kind, table in writes.TABLES.items():
        present = {info[1] for info in conn.execute(f"PRAGMA table_info({table})")}
        assert {"trace_id", "created_at", *writes.COLUMNS[kind]} <= present, table


def test_a_batch_is_one_statement_with_a_row_of_placeholders_per_row() -> None:
    sql = writes.insert_sql("gateway_event", 3)
    assert sql.startswith("INSERT INTO gateway_events (trace_id, created_at, subsystem, kind, level,")
    assert sql.count("(?, ?, ?, ?, ?, ?, ?, ?)") == 3


@pytest.mark.parametrize("kind", list(writes.TABLES))
def test_rows_of_each_kind_go_in_as_they_were_given(conn: sqlite3.Connection, kind: str) -> None:
    required = {
        "trace": {"provider": "p", "model": "m", "status": "ok"},
        "error": {"error_type": "crash", "severity": "error", "message": "m"},
        "system_metric": {},
        "metric_point": {"name": "n", "kind": "gauge", "value": 1.5},
        "gateway_event": {"kind": "restart"},
    }[kind]
    given = [row(kind, f"t{n}", NOW_MS + n, **required) for n in range(3)]
    writes.insert_rows(conn, kind, given)
    columns = ", ".join(("trace_id", "created_at", *writes.COLUMNS[kind]))
    assert conn.execute(f"SELECT {columns} FROM {writes.TABLES[kind]} ORDER BY id").fetchall() == given


def test_a_batch_with_one_bad_row_inserts_none_of_them(conn: sqlite3.Connection) -> None:
    good = row("trace", "good", provider="p", model="m", status="ok")
    bad = row("trace", "bad", provider=None, model="m", status="ok")  # provider is NOT NULL
    with pytest.raises(sqlite3.IntegrityError):
        writes.insert_rows(conn, "trace", [good, bad, good])
    assert ids(conn, "llm_traces") == []


def test_the_log_and_otlp_errors_of_a_run_the_plugin_reported_are_deleted(conn: sqlite3.Connection) -> None:
    writes.insert_rows(
        conn,
        "error",
        [
            error("log-of-run", "gateway_log", "trace_id", RUN),
            error("otlp-of-run", "otlp", "trace_id", RUN, "crash"),
            error("log-of-other-run", "gateway_log", "trace_id", OTHER_RUN),
            error("log-system-error", "gateway_log", "trace_id", RUN, "system_error"),  # not a model call's
            error("plugin", "openclaw-plugin", "w3c_trace_id", RUN),
        ],
    )
    assert writes.supersede_duplicates(conn, NOW_MS - 1) == 2
    assert ids(conn, "error_events") == ["log-of-other-run", "log-system-error", "plugin"]


def test_a_plugin_trace_alone_names_the_run_too(conn: sqlite3.Connection) -> None:
    writes.insert_rows(conn, "trace", [call("plugin", "openclaw-plugin", "w3c_trace_id", RUN)])
    writes.insert_rows(conn, "error", [error("log-of-run", "gateway_log", "trace_id", RUN)])
    assert writes.supersede_duplicates(conn, NOW_MS - 1) == 1
    assert ids(conn, "error_events") == []


def test_pushed_rows_and_rows_before_the_window_are_left_alone(conn: sqlite3.Connection) -> None:
    writes.insert_rows(conn, "error", [error("plugin", "openclaw-plugin", "w3c_trace_id", RUN)])
    old = row("error", "old", NOW_MS - 10, error_type="llm_error", severity="error", message="m",
              metadata={"source": "gateway_log", "trace_id": RUN})  # fmt: skip
    writes.insert_rows(conn, "error", [old, error("pushed", "gateway_log", "trace_id", RUN)])
    conn.execute("UPDATE error_events SET synced = 1 WHERE trace_id = 'pushed'")
    assert writes.supersede_duplicates(conn, NOW_MS - 1) == 0
    assert ids(conn, "error_events") == ["plugin", "old", "pushed"]


def test_an_otlp_trace_of_the_run_goes_once_the_rollups_count_it_and_leaves_them(conn: sqlite3.Connection) -> None:
    writes.insert_rows(
        conn,
        "trace",
        [
            call("otlp-of-run", "otlp", "trace_id", RUN, prompt_tokens=10),
            call("otlp-of-other-run", "otlp", "trace_id", OTHER_RUN, prompt_tokens=20),
            call("plugin", "openclaw-plugin", "w3c_trace_id", RUN, prompt_tokens=10),
        ],
    )
    # Past the mark, the writer may be summing it for the next roll-up: kept for a later pass.
    assert writes.supersede_duplicates(conn, NOW_MS - 1) == 0
    rollups.roll_up(conn)
    assert conn.execute("SELECT sum(calls), sum(prompt_tokens) FROM cost_rollups").fetchone() == (3, 40)
    assert writes.supersede_duplicates(conn, NOW_MS - 1) == 1
    assert ids(conn, "llm_traces") == ["otlp-of-other-run", "plugin"]
    assert conn.execute("SELECT sum(calls), sum(prompt_tokens) FROM cost_rollups").fetchone() == (2, 30)


def test_unsynced_rows_are_counted_over_the_tables_asked_for(conn: sqlite3.Connection) -> None:
    writes.insert_rows(conn, "trace", [call(f"t{n}", "api", "trace_id", RUN) for n in range(3)])
    writes.insert_rows(conn, "error", [error("e", "api", "trace_id", RUN)])
    conn.execute("UPDATE llm_traces SET synced = 1 WHERE trace_id = 't0'")
    assert writes.count_unsynced(conn, ["llm_traces", "error_events"]) == 3
    assert writes.count_unsynced(conn, ["error_events"]) == 1
    assert writes.count_unsynced(conn, []) == 0


def test_only_rows_whose_id_and_trace_id_both_match_are_marked_pushed(conn: sqlite3.Connection) -> None:
    writes.insert_rows(conn, "error", [error(f"e{n}", "api", "trace_id", RUN) for n in range(4)])
    # id 2 is asked for with another row's trace_id (an id reused after a delete): not marked.
    marked = writes.mark_pushed(conn, "error_events", NOW_MS, json.dumps([1, 2, 3]), json.dumps(["e0", "e2"]))
    assert marked == 2
    pushed = conn.execute("SELECT trace_id, pushed_at FROM error_events WHERE synced = 1 ORDER BY id").fetchall()
    assert pushed == [("e0", NOW_MS), ("e2", NOW_MS)]
    # Marked once: asking again changes nothing.
    assert writes.mark_pushed(conn, "error_events", NOW_MS + 1, json.dumps([1]), json.dumps(["e0"])) == 0


def test_only_data_tables_can_be_marked_and_only_known_modes_checkpointed(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="unknown data table"):
        writes.mark_pushed(conn, "push_log; DROP TABLE llm_traces", NOW_MS, "[]", "[]")
    with pytest.raises(ValueError, match="unknown checkpoint mode"):
        writes.checkpoint(conn, "TRUNCATE); DROP TABLE llm_traces; --")


def test_a_truncate_checkpoint_copies_the_wal_back_and_empties_it(conn: sqlite3.Connection, tmp_path: Path) -> None:
    conn.execute("PRAGMA wal_autocheckpoint=0")
    writes.insert_rows(conn, "trace", [call(f"t{n}", "api", "trace_id", RUN) for n in range(20)])
    busy, frames, copied = writes.checkpoint(conn, "PASSIVE")
    assert busy == 0 and frames == copied > 0
    assert writes.checkpoint(conn, "TRUNCATE") == (0, 0, 0)
    assert (tmp_path / "w.db-wal").stat().st_size == 0


def test_a_push_cycle_and_the_books_are_recorded_as_given(conn: sqlite3.Connection) -> None:
    cycle = (NOW_MS, 120, "failed", "https://collector.example:443", "otlp", 50, 1, 2048, 503, "HTTP 503")
    writes.record_push_cycle(conn, cycle)
    books = (NOW_MS, NOW_MS - 60_000, 100, 90, 4, json.dumps({"queue_full": 4}), 6)
    writes.record_books(conn, books)
    stored_cycle = conn.execute(
        "SELECT started_at, duration_ms, status, endpoint, format, events, batches, bytes, http_status, error"
        " FROM push_log"
    ).fetchall()
    stored_books = conn.execute(
        "SELECT at, started_at, received, written, dropped, dropped_by_reason, queue_depth FROM ingest_books"
    ).fetchall()
    assert stored_cycle == [cycle]
    assert stored_books == [books]
