"""The figures of a set of model calls, from the hourly rollups where they can answer, else from raw rows.

A window splits into its whole hours, read from ``cost_rollups`` and
``latency_rollups`` (so cost history outlives the raw rows' retention, and
30 days of a million calls sum in milliseconds), and the part-hours at its
edges, read from ``llm_traces``. The rollups key calls by provider, model,
agent and channel only: a filter or a grouping on the session or the status
reads raw rows for the whole window.

Groups are labelled by quarter hour for the time keys (``day``, ``hour``):
the caller folds quarters into days or hours of its time zone. Rollup hours
are whole UTC hours, so in a zone whose offset is not a whole hour a day's
first or last half hour is counted in the neighbouring day.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from openclaw_trace.read.filters import Filters, in_window
from openclaw_trace.read.window import Window
from openclaw_trace.storage.rollups import FIGURE_COLUMNS, HOUR_MS, LATENCY_BOUNDS_MS, bucket_sql

QUARTER_MS = 900_000
# Group keys → (raw column, rollup column); None: a time key (labelled by quarter hour).
KEY_COLUMNS: dict[str, tuple[str, str] | None] = {
    "model": ("model", "model"),
    "provider": ("provider", "provider"),
    "agent": ("agent_id", "agent_id"),
    "channel": ("channel", "channel"),
    "session": ("session_id", ""),  # not in the rollups
    "day": None,
    "hour": None,
}

_RAW_FIGURES = """
    count(*) AS calls,
    sum(status = 'error') AS failed_calls,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(total_tokens) AS total_tokens,
    sum(CASE WHEN cost_source = 'unpriced' OR cost_usd IS NULL THEN NULL ELSE cost_usd END) AS cost_usd,
    sum(CASE WHEN cost_source = 'reported' THEN cost_usd END) AS cost_reported_usd,
    sum(CASE WHEN cost_source = 'computed' OR (cost_source IS NULL AND cost_usd IS NOT NULL)
        THEN cost_usd END) AS cost_computed_usd,
    sum(cost_source = 'unpriced' OR cost_usd IS NULL) AS unpriced_calls,
    sum(latency_ms) AS latency_sum_ms,
    count(latency_ms) AS latency_count
"""
_ROLLUP_FIGURES = ", ".join(f"sum({column}) AS {column}" for column in FIGURE_COLUMNS) + (
    ", sum(cost_reported_usd) + sum(cost_computed_usd) AS cost_usd"
)


@dataclass
class Figures:
    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0  # priced calls only
    cost_reported_usd: float = 0.0
    cost_computed_usd: float = 0.0
    unpriced_calls: int = 0
    latency_sum_ms: float = 0.0
    latency_count: int = 0

    def add(self, row: sqlite3.Row) -> None:
        for name in asdict(self):
            setattr(self, name, getattr(self, name) + (row[name] or 0))

    def merge(self, other: Figures) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def public(self) -> dict[str, Any]:
        """The figures as the CLI's --json and the API show them."""
        shown = {k: v for k, v in asdict(self).items() if k not in ("latency_sum_ms", "latency_count")}
        for money in ("cost_usd", "cost_reported_usd", "cost_computed_usd"):
            shown[money] = round(shown[money], 6)
        shown["error_rate"] = round(self.failed_calls / self.calls, 4) if self.calls else 0.0
        shown["latency_avg_ms"] = round(self.latency_sum_ms / self.latency_count, 1) if self.latency_count else None
        return shown


def rollups_answer(filters: Filters, by: Sequence[str]) -> bool:
    """Whether the rollups hold what these filters and group keys need."""
    return filters.session_id is None and filters.status is None and "session" not in by


def split(window: Window) -> tuple[Window | None, list[Window]]:
    """The window's whole hours (or None) and the part-hours at its edges."""
    first = -(-window.since_ms // HOUR_MS) * HOUR_MS
    last = window.until_ms // HOUR_MS * HOUR_MS
    if first >= last:
        return None, [window]
    edges = [Window(window.since_ms, first), Window(last, window.until_ms)]
    return Window(first, last), [edge for edge in edges if edge.until_ms > edge.since_ms]


def grouped(
    conn: sqlite3.Connection, window: Window, filters: Filters, by: Sequence[str]
) -> dict[tuple[Any, ...], Figures]:
    """Figures per group of ``by`` keys (time keys as quarter-hour numbers); ``()`` for no keys."""
    hours, edges = split(window) if rollups_answer(filters, by) else (None, [window])
    groups: dict[tuple[Any, ...], Figures] = {}
    for raw_window in edges:
        where, params = in_window(raw_window)
        extra, extra_params = filters.clause()
        selected = _selected(by, raw=True)
        sql = f"SELECT {selected}{_RAW_FIGURES} FROM llm_traces WHERE {where}{extra}{_grouping(by)}"
        _add(groups, conn.execute(sql, params + extra_params), by)
    if hours is not None:
        extra, extra_params = filters.clause(with_status=False)
        sql = (
            f"SELECT {_selected(by, raw=False)}{_ROLLUP_FIGURES} FROM cost_rollups"
            f" WHERE hour >= ? AND hour < ?{extra}{_grouping(by)}"
        )
        _add(groups, conn.execute(sql, [hours.since_ms, hours.until_ms, *extra_params]), by)
    return groups


def percentiles(
    conn: sqlite3.Connection, window: Window, filters: Filters, fractions: Sequence[float]
) -> list[float | None]:
    """Latency at each fraction: exact from raw rows, or a bucket's upper bound where rollups answer."""
    if not rollups_answer(filters, ()):
        return _exact_percentiles(conn, window, filters, fractions)
    hours, edges = split(window)
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    extra, extra_params = filters.clause(with_status=False)
    for raw_window in edges:
        where, params = in_window(raw_window)
        sql = (
            f"SELECT {bucket_sql('latency_ms')} AS bucket, count(*) AS calls FROM llm_traces"
            f" WHERE {where}{extra} AND latency_ms IS NOT NULL GROUP BY bucket"
        )
        for row in conn.execute(sql, params + extra_params):
            counts[row["bucket"]] += row["calls"]
    if hours is not None:
        sql = (
            "SELECT bucket, sum(calls) AS calls FROM latency_rollups"
            f" WHERE hour >= ? AND hour < ?{extra} GROUP BY bucket"
        )
        for row in conn.execute(sql, [hours.since_ms, hours.until_ms, *extra_params]):
            counts[row["bucket"]] += row["calls"]
    return [_from_histogram(counts, fraction) for fraction in fractions]


def _from_histogram(counts: list[int], fraction: float) -> float | None:
    total = sum(counts)
    if total == 0:
        return None
    wanted, seen = fraction * total, 0
    for bucket, count in enumerate(counts):
        seen += count
        if seen >= wanted and count:
            return float(LATENCY_BOUNDS_MS[min(bucket, len(LATENCY_BOUNDS_MS) - 1)])
    return float(LATENCY_BOUNDS_MS[-1])


def _exact_percentiles(
    conn: sqlite3.Connection, window: Window, filters: Filters, fractions: Sequence[float]
) -> list[float | None]:
    where, params = in_window(window)
    extra, extra_params = filters.clause()
    base = f"FROM llm_traces WHERE {where}{extra} AND latency_ms IS NOT NULL"
    count = conn.execute(f"SELECT count(*) {base}", params + extra_params).fetchone()[0]
    found: list[float | None] = []
    for fraction in fractions:
        if count == 0:
            found.append(None)
            continue
        row = conn.execute(
            f"SELECT latency_ms {base} ORDER BY latency_ms LIMIT 1 OFFSET ?",
            [*params, *extra_params, min(count - 1, int(fraction * count))],
        ).fetchone()
        found.append(row[0])
    return found


def _selected(by: Sequence[str], raw: bool) -> str:
    columns = []
    for index, key in enumerate(by):
        pair = KEY_COLUMNS[key]
        if pair is None:
            column = f"created_at / {QUARTER_MS}" if raw else f"hour / {QUARTER_MS}"
        else:
            column = pair[0] if raw else f"nullif({pair[1]}, '')"
        columns.append(f"{column} AS k{index}, ")
    return "".join(columns)


def _grouping(by: Sequence[str]) -> str:
    return " GROUP BY " + ", ".join(f"k{index}" for index in range(len(by))) if by else ""


def _add(groups: dict[tuple[Any, ...], Figures], rows: Any, by: Sequence[str]) -> None:
    for row in rows:
        if not by and not row["calls"]:
            continue  # an aggregate over no row is one row of NULLs
        label = tuple(row[f"k{index}"] for index in range(len(by)))
        groups.setdefault(label, Figures()).add(row)
