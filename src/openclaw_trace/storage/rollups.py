"""Hourly rollups of model calls: cost history that outlives the raw rows' retention.

``cost_rollups`` holds, per hour and (provider, model, agent, channel), the
figures the cost queries sum: calls, failed calls, tokens, cost by
provenance, unpriced calls, latency sum and count. ``latency_rollups`` holds
a latency histogram per hour, provider and model, in buckets of a
1-1.5-2-3-5-7 series (``LATENCY_BOUNDS_MS``), for p50/p95 over windows too
large to sort (keyed on less than the costs: it has a row per bucket, and
a month of it is read for every summary).

The rollups count exactly the ``llm_traces`` rows whose ``id`` is at most
``rollup_state.rolled_to_id`` (the mark). The writer sums each batch's calls
in memory as it commits them (``CallSums``: the rows are in its hands, nothing
is read back) and about once a second adds the sums to the tables and moves
the mark, in one short transaction. So at every moment the rollups plus the
rows past the mark, a second's worth, are the whole truth; readers take both
in one snapshot (``read.figures``). Other ways were measured and dropped
(docs/benchmarks.md): a trigger per inserted row, or an upsert per call in
the batch's own transaction, cost the writer 30-50 % of its rate, since a
batch of 50 calls of many models is nearly one upsert per call; summing
from the table re-read every call and held read snapshots that kept the WAL
from restarting. Deleting raw rows (retention, space) leaves the rollups
alone: that is their point. Rows removed as duplicates of the plugin's are
taken out of the rollups by ``subtract_statements`` in the same transaction
as their delete (only rows up to the mark are ever deleted as duplicates).
"""

from __future__ import annotations

import bisect
import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

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


def rolled_to(conn: sqlite3.Connection) -> int:
    """The highest ``llm_traces.id`` the rollups count (every lower id too)."""
    return int(conn.execute("SELECT rolled_to_id FROM rollup_state").fetchone()[0])


def roll_up(conn: sqlite3.Connection) -> int:
    """Fold every call past the mark into the rollups, in SQL, and move the mark to the last call; how many ids.

    For the writer as it starts (the sums it held in memory when it last stopped, if it
    did not stop cleanly), and for bulk loads; in a transaction.
    """
    mark = rolled_to(conn)
    last = int(conn.execute("SELECT coalesce(max(id), 0) FROM llm_traces").fetchone()[0])
    if last <= mark:
        return 0
    for statement in _grouped_insert("t.id > :mark", 1):
        conn.execute(statement, {"mark": mark})
    conn.execute("UPDATE rollup_state SET rolled_to_id = ?", (last,))
    return last - mark


# Rows per upsert statement: 17 values a row, within SQLite's 32,766 bound variables.
_UPSERT_ROWS = 1_000


@functools.lru_cache(maxsize=32)
def _upsert_many(statement: str, row_count: int) -> str:
    """``statement``, an upsert of one row, for ``row_count`` rows."""
    head, _, tail = statement.partition(" VALUES ")
    one_row, _, conflict = tail.partition(" ON CONFLICT ")
    return f"{head} VALUES {', '.join([one_row] * row_count)} ON CONFLICT {conflict}"


def _upsert(conn: sqlite3.Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), _UPSERT_ROWS):
        chunk = rows[start : start + _UPSERT_ROWS]
        conn.execute(_upsert_many(statement, len(chunk)), [value for row in chunk for value in row])


class CallSums:
    """The rollup figures of the calls the writer has written since the mark, summed in memory.

    The writer adds each batch's calls once they are committed (``add``: one pass over
    rows it already holds, nothing re-read) and folds the sums into the tables about once
    a second (``fold``: a few hundred upserts, however many calls). Until then the calls
    are past the mark, and readers add them raw. If the writer dies holding sums, the
    calls are still past the mark, and ``roll_up`` at the next start counts them.
    """

    def __init__(self) -> None:
        self._costs: dict[tuple[Any, ...], list[Any]] = {}
        self._latencies: dict[tuple[Any, ...], int] = {}
        self.calls = 0
        self._mark: int | None = None  # the mark the sums start from: the newest call when they began

    def start(self, conn: sqlite3.Connection) -> None:
        """Before the first call: count what lies past the mark (a writer that died holding sums), start there."""
        roll_up(conn)
        self._mark = rolled_to(conn)

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Count committed ``llm_traces`` rows: full rows, in the order of ``writes.COLUMNS["trace"]``."""
        costs, latencies = self._costs, self._latencies
        for row in rows:
            created_at, provider, model = row[1], row[2], row[3]
            hour = created_at - created_at % HOUR_MS
            key = (hour, provider, model, row[17] or "", row[18] or "")
            figures = costs.get(key)
            if figures is None:  # in the order of FIGURE_COLUMNS
                figures = costs[key] = [0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0.0, 0]
            figures[0] += 1
            if row[14] == "error":
                figures[1] += 1
            figures[2] += row[6] or 0  # prompt tokens
            figures[3] += row[7] or 0  # completion tokens
            figures[4] += row[9] or 0  # cache read tokens
            figures[5] += row[10] or 0  # cache write tokens
            figures[6] += row[8] or 0  # total tokens
            cost, source, latency = row[11], row[12], row[13]
            if cost is None or source == "unpriced":
                figures[9] += 1
            elif source == "reported":
                figures[7] += cost
            else:  # computed, or from before cost provenance (no source)
                figures[8] += cost
            if latency is not None:
                figures[10] += latency
                figures[11] += 1
                # bisect_left: the first bound ≥ the latency (a bucket holds latencies ≤ its bound).
                latency_key = (hour, provider, model, bisect.bisect_left(LATENCY_BOUNDS_MS, latency))
                latencies[latency_key] = latencies.get(latency_key, 0) + 1
        self.calls += len(rows)

    def fold(self, conn: sqlite3.Connection) -> int:
        """Add the sums to the tables and move the mark to the newest call, in the writer's transaction;
        how many calls were added.

        Every call past the mark was added here (the writer is the only one that inserts
        calls), so the mark can move to the newest id. If the mark moved meanwhile (a
        ``roll_up`` on the writer counted these calls from the table), the sums are
        stale and nothing is added. The sums are kept until ``clear``: if the
        transaction fails they are folded next time.
        """
        mark = rolled_to(conn)
        if mark != self._mark:
            return 0
        _upsert(conn, _UPSERT_COSTS, [(*key, *figures) for key, figures in self._costs.items()])
        _upsert(conn, _UPSERT_LATENCIES, [(*key, calls) for key, calls in self._latencies.items()])
        conn.execute("UPDATE rollup_state SET rolled_to_id = (SELECT coalesce(max(id), 0) FROM llm_traces)")
        return self.calls

    def clear(self, conn: sqlite3.Connection) -> None:
        """Forget the sums (``fold`` committed) and start again from the mark as it now stands."""
        self._costs.clear()
        self._latencies.clear()
        self.calls = 0
        self._mark = rolled_to(conn)


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
