"""Hourly rollups of model calls: cost history that outlives the raw rows' retention.

``cost_rollups`` holds, per hour and (provider, model, agent, channel), the
figures the cost queries sum: calls, failed calls, tokens, cost by
provenance, unpriced calls, latency sum and count. ``latency_rollups`` holds
a latency histogram per hour, provider and model, in buckets of a
1-1.5-2-3-5-7 series (``LATENCY_BOUNDS_MS``), for p50/p95 over windows too
large to sort (keyed on less than the costs: it has a row per bucket, and
a month of it is read for every summary).

The rollups count exactly the ``llm_traces`` rows whose ``id`` is at most
``rollup_state.rolled_to_id``. Every few seconds ``RollupJob`` sums the
rows written since on a read-only connection, off the writer (``pending``),
and the single writer adds the sums and moves the mark in one short
transaction (``apply``), so at every moment rollups plus the
rows past the mark are the whole truth; readers take both in one snapshot
(``read.figures``). A trigger per inserted row did the same in the insert's
own statement, but cost the writer 30–40 % of its rate; summing in the
writer every 5 s held it long enough to drop events at 45,000/s
(docs/benchmarks.md). Deleting
raw rows (retention, space) leaves the rollups alone: that is their point.
Rows removed as duplicates of the plugin's are taken out of the rollups by
``subtract_statements`` in the same transaction as their delete, once they
are counted (only rows up to the mark are ever deleted as duplicates).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from openclaw_trace.storage.connection import read_transaction

# Upper bounds (ms) of the latency buckets; bucket i holds latencies ≤ bound i (and > bound i-1);
# the last bucket holds everything above the last bound.
LATENCY_BOUNDS_MS = (
    1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000,
    5_000, 7_000, 10_000, 15_000, 20_000, 30_000, 50_000, 70_000, 100_000, 150_000, 200_000, 300_000, 600_000,
)  # fmt: skip
HOUR_MS = 3_600_000
KEY_COLUMNS = ("hour", "provider", "model", "agent_id", "channel")
LATENCY_KEY_COLUMNS = ("hour", "provider", "model")
FIGURE_COLUMNS = (
    "calls",
    "failed_calls",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "cost_reported_usd",
    "cost_computed_usd",
    "unpriced_calls",
    "latency_sum_ms",
    "latency_count",
)


def bucket_sql(value: str) -> str:
    """The latency bucket of the SQL expression ``value`` (an index into LATENCY_BOUNDS_MS, or one past it)."""
    whens = " ".join(f"WHEN {value} <= {bound} THEN {index}" for index, bound in enumerate(LATENCY_BOUNDS_MS))
    return f"CASE {whens} ELSE {len(LATENCY_BOUNDS_MS)} END"


def _figures_of(row: str) -> tuple[str, ...]:
    """Each figure of one ``llm_traces`` row named ``row`` (NEW, OLD or a table alias), as SQL."""
    return (
        "1",
        f"{row}.status IS 'error'",
        f"coalesce({row}.prompt_tokens, 0)",
        f"coalesce({row}.completion_tokens, 0)",
        f"coalesce({row}.cache_read_tokens, 0)",
        f"coalesce({row}.cache_write_tokens, 0)",
        f"coalesce({row}.total_tokens, 0)",
        f"CASE WHEN {row}.cost_source = 'reported' THEN coalesce({row}.cost_usd, 0) ELSE 0 END",
        # A row from before cost provenance (cost_source NULL) with a cost counts as computed.
        f"CASE WHEN {row}.cost_source = 'computed' OR ({row}.cost_source IS NULL AND {row}.cost_usd IS NOT NULL)"
        f" THEN {row}.cost_usd ELSE 0 END",
        # IS, not =: a NULL cost_source must give false, not NULL (the columns are NOT NULL).
        f"{row}.cost_source IS 'unpriced' OR {row}.cost_usd IS NULL",
        f"coalesce({row}.latency_ms, 0)",
        f"{row}.latency_ms IS NOT NULL",
    )


def _keys_of(row: str) -> tuple[str, ...]:
    return (
        f"{row}.created_at / {HOUR_MS} * {HOUR_MS}",
        f"{row}.provider",
        f"{row}.model",
        f"coalesce({row}.agent_id, '')",
        f"coalesce({row}.channel, '')",
    )


_UPSERT_FIGURES = ", ".join(f"{column} = {column} + excluded.{column}" for column in FIGURE_COLUMNS)
_KEYS = ", ".join(KEY_COLUMNS)
_LATENCY_KEYS = ", ".join(LATENCY_KEY_COLUMNS)

_FIGURE_DEFINITIONS = ", ".join(
    f"{column} {'REAL' if column.endswith(('_usd', '_ms')) else 'INTEGER'} NOT NULL" for column in FIGURE_COLUMNS
)

CREATE_STATEMENTS = (
    f"""CREATE TABLE cost_rollups (
        hour INTEGER NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        {_FIGURE_DEFINITIONS},
        PRIMARY KEY ({_KEYS})) WITHOUT ROWID""",
    f"""CREATE TABLE latency_rollups (
        hour INTEGER NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        PRIMARY KEY ({_LATENCY_KEYS}, bucket)) WITHOUT ROWID""",
    "CREATE TABLE rollup_state (id INTEGER PRIMARY KEY CHECK (id = 1), rolled_to_id INTEGER NOT NULL)",
    "INSERT INTO rollup_state (id, rolled_to_id) VALUES (1, 0)",
)


def _grouped_select(where: str, sign: int) -> tuple[str, str]:
    """SELECTs of the rollup rows (costs, latencies) of the ``llm_traces`` rows matching ``where`` (alias ``t``)."""
    keys = ", ".join(_keys_of("t"))
    sums = ", ".join(f"{sign} * sum({figure})" for figure in _figures_of("t"))
    costs = f"SELECT {keys}, {sums} FROM llm_traces AS t WHERE {where} GROUP BY 1, 2, 3, 4, 5"
    latency_keys = ", ".join(_keys_of("t")[:3])
    latencies = (
        f"SELECT {latency_keys}, {bucket_sql('t.latency_ms')}, {sign} * count(*) FROM llm_traces AS t"
        f" WHERE ({where}) AND t.latency_ms IS NOT NULL GROUP BY 1, 2, 3, 4"
    )
    return costs, latencies


_UPSERT_COSTS = (
    f"INSERT INTO cost_rollups ({_KEYS}, {', '.join(FIGURE_COLUMNS)})"
    f" VALUES ({', '.join('?' * (len(KEY_COLUMNS) + len(FIGURE_COLUMNS)))})"
    f" ON CONFLICT ({_KEYS}) DO UPDATE SET {_UPSERT_FIGURES}"
)
_UPSERT_LATENCIES = (
    f"INSERT INTO latency_rollups ({_LATENCY_KEYS}, bucket, calls) VALUES (?, ?, ?, ?, ?)"
    f" ON CONFLICT ({_LATENCY_KEYS}, bucket) DO UPDATE SET calls = calls + excluded.calls"
)


def _grouped_insert(where: str, sign: int) -> tuple[str, str]:
    """Statements adding (sign 1) or taking away (-1) the figures of the rows matching ``where``, in SQL."""
    costs, latencies = _grouped_select(where, sign)
    return (
        f"INSERT INTO cost_rollups ({_KEYS}, {', '.join(FIGURE_COLUMNS)}) {costs}"
        f" ON CONFLICT ({_KEYS}) DO UPDATE SET {_UPSERT_FIGURES}",
        f"INSERT INTO latency_rollups ({_LATENCY_KEYS}, bucket, calls) {latencies}"
        f" ON CONFLICT ({_LATENCY_KEYS}, bucket) DO UPDATE SET calls = calls + excluded.calls",
    )


# The migration's backfill: the rollups of every row already stored.
BACKFILL_STATEMENTS = (
    *_grouped_insert("1", 1),
    "UPDATE rollup_state SET rolled_to_id = coalesce((SELECT max(id) FROM llm_traces), 0)",
)


@dataclass(frozen=True)
class Pending:
    """The rollup rows of the calls with ids in ``(rolled_to, up_to]``, summed on a read-only connection."""

    rolled_to: int
    up_to: int
    costs: list[tuple[Any, ...]]
    latencies: list[tuple[Any, ...]]


def rolled_to(conn: sqlite3.Connection) -> int:
    """The highest ``llm_traces.id`` the rollups count (every lower id too)."""
    return int(conn.execute("SELECT rolled_to_id FROM rollup_state").fetchone()[0])


# Ids summed per read transaction: a long read holds back the WAL checkpoint (whose
# RESTART then makes the writer wait); 20,000 calls take tens of milliseconds.
SUM_CHUNK_IDS = 20_000


def pending(conn: sqlite3.Connection, chunk_ids: int = SUM_CHUNK_IDS, max_ids: int | None = None) -> Pending:
    """Sums the calls written since the mark (at most ``max_ids`` of them), ``chunk_ids`` at a time; on any
    connection (read-only: off the writer).

    Calls up to the mark's end never change once written (only rows the rollups count
    are deleted as duplicates), so the chunks need not share a snapshot.
    """
    mark, up_to = _range(conn)
    if max_ids is not None:
        up_to = min(up_to, mark + max_ids)
    costs: dict[tuple[Any, ...], list[Any]] = {}
    latencies: dict[tuple[Any, ...], int] = {}
    costs_sql, latencies_sql = _grouped_select("t.id > :start AND t.id <= :end", 1)
    keys = len(KEY_COLUMNS)
    for start in range(mark, up_to, chunk_ids):
        params = {"start": start, "end": min(start + chunk_ids, up_to)}
        with read_transaction(conn):
            for row in conn.execute(costs_sql, params):
                key, figures = tuple(row[:keys]), row[keys:]
                into = costs.get(key)
                costs[key] = list(figures) if into is None else [a + b for a, b in zip(into, figures, strict=True)]
            for row in conn.execute(latencies_sql, params):
                latency_key = tuple(row[:4])
                latencies[latency_key] = latencies.get(latency_key, 0) + row[4]
    return Pending(
        mark,
        up_to,
        [(*key, *figures) for key, figures in costs.items()],
        [(*key, calls) for key, calls in latencies.items()],
    )


def _range(conn: sqlite3.Connection) -> tuple[int, int]:
    with read_transaction(conn):
        return rolled_to(conn), int(conn.execute("SELECT coalesce(max(id), 0) FROM llm_traces").fetchone()[0])


def apply(conn: sqlite3.Connection, summed: Pending) -> int:
    """Add ``summed`` to the rollups and move the mark to its end; the ids it covered (0 when stale).

    For the writer, in its transaction: a few upserts, however many calls they sum. Stale
    (another roll-up moved the mark meanwhile): nothing is applied. The calls it covers
    cannot have changed since they were summed: only rows up to the mark are ever taken
    out as duplicates (``subtract_statements``).
    """
    if rolled_to(conn) != summed.rolled_to or summed.up_to <= summed.rolled_to:
        return 0
    conn.executemany(_UPSERT_COSTS, summed.costs)
    conn.executemany(_UPSERT_LATENCIES, summed.latencies)
    conn.execute("UPDATE rollup_state SET rolled_to_id = ?", (summed.up_to,))
    return summed.up_to - summed.rolled_to


def roll_up(conn: sqlite3.Connection) -> int:
    """Sum and apply on one connection (tests, bulk loads); the ids it covered."""
    return apply(conn, pending(conn))


def subtract_statements(where: str) -> tuple[str, str]:
    """Statements taking the rows matching ``where`` (alias ``t``) out of the rollups, before they are deleted.

    ``where`` must hold only for rows the rollups already count (up to the mark):
    a row past it may be summed at this moment for the next roll-up, off the writer.
    """
    return _grouped_insert(where, -1)


def delete_before(hour_ms: int) -> tuple[tuple[str, tuple[int]], ...]:
    """Statements dropping the rollups of hours before ``hour_ms`` (their own retention)."""
    return (
        ("DELETE FROM cost_rollups WHERE hour < ?", (hour_ms,)),
        ("DELETE FROM latency_rollups WHERE hour < ?", (hour_ms,)),
    )
