"""The hourly rollups equal the raw rows they count, wherever the raw rows still exist.

Random calls (many models, agents, channels, hours; prices reported,
computed or unknown; latencies or none) go in through the storage layer's
own multi-row inserts in random batches, summed in memory as the writer sums
them and folded into the tables after a random number of them, with a writer
that dies holding sums at a random point (the next start counts its calls from
the table); retention deletes whole old hours of raw rows; OTLP duplicates of
plugin rows are superseded, before or after their roll-up. The expected
figures are worked out here in Python from the generated calls, not by SQL.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openclaw_trace.storage import writes
from openclaw_trace.storage.connection import immediate_transaction, open_write_connection
from openclaw_trace.storage.rollups import HOUR_MS, LATENCY_BOUNDS_MS, CallSums, roll_up, rolled_to
from openclaw_trace.storage.schema import migrate

BASE_MS = 1_796_000_000_000 // HOUR_MS * HOUR_MS
HOURS = 6

calls = st.fixed_dictionaries(
    {
        "created_at": st.integers(BASE_MS, BASE_MS + HOURS * HOUR_MS - 1),
        "provider": st.sampled_from(["openai", "anthropic"]),
        "model": st.sampled_from(["gpt-4o", "claude", "llama"]),
        "agent_id": st.sampled_from([None, "main", "ops"]),
        "channel": st.sampled_from([None, "telegram"]),
        "status": st.sampled_from(["ok", "error"]),
        "prompt_tokens": st.none() | st.integers(0, 10_000),
        "completion_tokens": st.none() | st.integers(0, 10_000),
        "cost": st.sampled_from(
            [(None, "unpriced"), (0.5, "reported"), (0.125, "computed"), (0.0, "reported"), (0.25, None)]
        ),
        "latency_ms": st.none() | st.floats(0, 700_000, allow_nan=False),
    }
)


def row_of(call: dict[str, Any], metadata: dict[str, Any] | None = None) -> tuple[Any, ...]:
    values = {
        **call,
        "cost_usd": call["cost"][0],
        "cost_source": call["cost"][1],
        "metadata": json.dumps(metadata) if metadata else None,
    }
    return (str(uuid.uuid4()), call["created_at"], *(values.get(column) for column in writes.COLUMNS["trace"]))


def expected(kept: list[dict[str, Any]]) -> tuple[dict[tuple[Any, ...], dict[str, float]], dict[tuple[Any, ...], int]]:
    figures: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    buckets: dict[tuple[Any, ...], int] = defaultdict(int)
    for call in kept:
        key = (call["created_at"] // HOUR_MS * HOUR_MS, call["provider"], call["model"],
               call["agent_id"] or "", call["channel"] or "")  # fmt: skip
        cost, source = call["cost"]
        into = figures[key]
        into["calls"] += 1
        into["failed_calls"] += call["status"] == "error"
        into["prompt_tokens"] += call["prompt_tokens"] or 0
        into["completion_tokens"] += call["completion_tokens"] or 0
        into["cost_reported_usd"] += cost if source == "reported" and cost is not None else 0
        into["cost_computed_usd"] += cost if source != "reported" and cost is not None and source != "unpriced" else 0
        into["unpriced_calls"] += source == "unpriced" or cost is None
        if call["latency_ms"] is not None:
            into["latency_sum_ms"] += call["latency_ms"]
            into["latency_count"] += 1
            buckets[(*key[:3], bisect.bisect_left(LATENCY_BOUNDS_MS, call["latency_ms"]))] += 1
    return figures, buckets


def stored(conn: Any, since_hour: int) -> tuple[dict[tuple[Any, ...], dict[str, float]], dict[tuple[Any, ...], int]]:
    figures = {}
    for row in conn.execute("SELECT * FROM cost_rollups WHERE hour >= ? AND calls != 0", (since_hour,)):
        record = dict(
            zip([c[0] for c in conn.execute("SELECT * FROM cost_rollups LIMIT 0").description], row, strict=True)
        )
        key = tuple(record.pop(column) for column in ("hour", "provider", "model", "agent_id", "channel"))
        figures[key] = record
    buckets = {
        tuple(row[:4]): row[4]
        for row in conn.execute(
            "SELECT hour, provider, model, bucket, calls FROM latency_rollups WHERE hour >= ? AND calls != 0",
            (since_hour,),
        )
    }
    return figures, buckets


class WriterSums:
    """The writer's share of the rollups, on one connection: sums of what it inserts, folded on demand."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.restart()

    def restart(self) -> None:
        """A writer that died holding sums, started again: it counts the calls past the mark in SQL."""
        self.sums = CallSums()
        with immediate_transaction(self.conn):
            self.sums.start(self.conn)

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        writes.insert_rows(self.conn, "trace", rows)
        self.sums.add(rows)

    def fold(self) -> None:
        with immediate_transaction(self.conn):
            self.sums.fold(self.conn)
        self.sums.clear(self.conn)


def assert_same(got: dict[tuple[Any, ...], dict[str, float]], want: dict[tuple[Any, ...], dict[str, float]]) -> None:
    assert set(got) == set(want)
    for key, figures in want.items():
        for name, value in figures.items():
            assert got[key][name] == pytest.approx(value, rel=1e-9, abs=1e-6), (key, name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    generated=st.lists(calls, min_size=1, max_size=120),
    batch=st.integers(1, 50),
    retention_hours=st.integers(0, HOURS),
    duplicates=st.integers(0, 5),
    rolled_batches=st.integers(0, 10),
    roll_before_supersede=st.booleans(),
    died_after=st.integers(0, 12),
)
def test_rollups_equal_the_raw_rows_they_count(
    tmp_path_factory: pytest.TempPathFactory, generated: list[dict[str, Any]], batch: int,
    retention_hours: int, duplicates: int, rolled_batches: int, roll_before_supersede: bool, died_after: int,
) -> None:  # fmt: skip
    path = str(tmp_path_factory.mktemp("rollups") / "oct.db")
    conn = open_write_connection(path)
    migrate(conn)
    rows = [row_of(call) for call in generated]
    # The plugin's calls and the exporter's copies of them (same run): the copies are superseded.
    for index in range(duplicates):
        run = f"{index:032x}"
        rows.append(row_of(generated[index % len(generated)], {"source": "openclaw-plugin", "w3c_trace_id": run}))
        rows.append(row_of(generated[index % len(generated)], {"source": "otlp", "trace_id": run}))
    writer = WriterSums(conn)
    for number, start in enumerate(range(0, len(rows), batch)):
        writer.insert(rows[start : start + batch])
        if number == rolled_batches:
            writer.fold()  # a fold between batches, as the writer's clock calls for one
        if number == died_after:
            writer.restart()
    if roll_before_supersede:
        writer.fold()
    writes.supersede_duplicates(conn, since_ms=0)
    writer.fold()
    writes.supersede_duplicates(conn, since_ms=0)  # the next pass takes the duplicates that were past the mark
    cutoff = BASE_MS + retention_hours * HOUR_MS  # retention: whole old hours of raw rows go
    conn.execute("DELETE FROM llm_traces WHERE created_at < ?", (cutoff,))

    kept = [call for call in generated if call["created_at"] >= cutoff]
    kept += [
        generated[i % len(generated)]
        for i in range(duplicates)
        if generated[i % len(generated)]["created_at"] >= cutoff
    ]
    want_figures, want_buckets = expected(kept)
    got_figures, got_buckets = stored(conn, cutoff)
    assert_same(got_figures, want_figures)
    assert got_buckets == want_buckets
    conn.close()


def test_the_migration_builds_rollups_for_rows_already_stored(tmp_path: Path) -> None:
    from openclaw_trace.storage import schema

    path = str(tmp_path / "oct.db")
    conn = open_write_connection(path)
    schema.migrate(conn, up_to=3)
    call = {"created_at": BASE_MS + 5, "provider": "p", "model": "m", "agent_id": None, "channel": None,
            "status": "ok", "prompt_tokens": 7, "completion_tokens": 1, "cost": (0.25, None),
            "latency_ms": 12.0}  # fmt: skip
    writes.insert_rows(conn, "trace", [row_of(call), row_of(call)])
    assert schema.migrate(conn) == [4, 5]
    assert rolled_to(conn) == 2
    figures, buckets = stored(conn, 0)
    assert figures[(BASE_MS, "p", "m", "", "")]["calls"] == 2
    assert figures[(BASE_MS, "p", "m", "", "")]["cost_computed_usd"] == pytest.approx(0.5)
    assert sum(buckets.values()) == 2
    conn.close()


def test_rollups_have_their_own_retention(tmp_path: Path) -> None:
    from openclaw_trace.storage.upkeep import delete_rollups_before

    conn = open_write_connection(str(tmp_path / "oct.db"))
    migrate(conn)
    for hour in range(3):
        call = {"created_at": BASE_MS + hour * HOUR_MS, "provider": "p", "model": "m", "agent_id": None,
                "channel": None, "status": "ok", "prompt_tokens": 1, "completion_tokens": 1, "cost": (0.5, "reported"),
                "latency_ms": 5.0}  # fmt: skip
        writes.insert_rows(conn, "trace", [row_of(call)])
    roll_up(conn)
    assert delete_rollups_before(conn, BASE_MS + 2 * HOUR_MS) == 4  # two hours, in both tables
    figures, _ = stored(conn, 0)
    assert [key[0] for key in figures] == [BASE_MS + 2 * HOUR_MS]
    assert conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0] == 3, "the raw rows are upkeep's other job"
    conn.close()


def test_sums_the_table_already_counted_are_not_added_twice(tmp_path: Path) -> None:
    conn = open_write_connection(str(tmp_path / "oct.db"))
    migrate(conn)
    call = {"created_at": BASE_MS, "provider": "p", "model": "m", "agent_id": None, "channel": None,
            "status": "ok", "prompt_tokens": 1, "completion_tokens": 1, "cost": (0.5, "reported"),
            "latency_ms": 5.0}  # fmt: skip
    writer = WriterSums(conn)
    writer.insert([row_of(call) for _ in range(4)])
    with immediate_transaction(conn):
        assert roll_up(conn) == 4  # counted from the table while the writer holds their sums
    writer.fold()
    assert stored(conn, 0)[0][(BASE_MS, "p", "m", "", "")]["calls"] == 4
    writer.insert([row_of(call) for _ in range(3)])  # the sums start again from the mark
    writer.fold()
    assert stored(conn, 0)[0][(BASE_MS, "p", "m", "", "")]["calls"] == 7
    assert rolled_to(conn) == 7
    conn.close()
