"""The figures of a set of model calls, from the hourly rollups where they can answer, else from raw rows.

A window splits into its whole hours, read from ``cost_rollups`` and
``latency_rollups`` (so cost history outlives the raw rows' retention, and
30 days of a million calls sum in milliseconds), and the part-hours at its
edges, read from ``llm_traces``. The rollups count the rows up to their mark
(``storage.rollups``); the rows past it, about a second's worth, are read raw
wherever in the window they fall, all in one snapshot. The rollups key calls by provider, model,
agent and channel only: a filter or a grouping on the session or the status
reads raw rows for the whole window.

The time keys (``day``, ``hour``) are worked out in SQL, in the caller's
time zone: the zone's UTC offsets through the window (a DST change is one
more ``WHEN``) are added to each time before it is divided into local days
or hours, so SQL returns one row per local day and key, and a group is
labelled by its local day (or hour) number since 1970-01-01. Rollup hours
are whole UTC hours, so in a zone whose offset is not a whole hour a day's
first or last half hour is counted in the neighbouring day.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from openclaw_trace.read.filters import Filters, in_window
from openclaw_trace.read.reader import snapshot
from openclaw_trace.read.window import Window
from openclaw_trace.storage.rollups import FIGURE_COLUMNS, HOUR_MS, LATENCY_BOUNDS_MS, bucket_sql, rolled_to

QUARTER_MS = 900_000
DAY_MS = 86_400_000
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

    def merge(self, other: Figures) -> None:
        for name in FIGURE_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def public(self) -> dict[str, Any]:
        """The figures as the CLI's --json and the API show them."""
        shown = {k: v for k, v in asdict(self).items() if k not in ("latency_sum_ms", "latency_count")}
        for money in ("cost_usd", "cost_reported_usd", "cost_computed_usd"):
            shown[money] = round(shown[money], 6)
        shown["error_rate"] = round(self.failed_calls / self.calls, 4) if self.calls else 0.0
        shown["latency_avg_ms"] = round(self.latency_sum_ms / self.latency_count, 1) if self.latency_count else None
        return shown


FIGURE_NAMES = tuple(field.name for field in fields(Figures))
# The rollups' sums in the order of FIGURE_NAMES (as _RAW_FIGURES has them).
_ROLLUP_FIGURES = ", ".join(
    "sum(cost_reported_usd) + sum(cost_computed_usd)" if name == "cost_usd" else f"sum({name})" for name in FIGURE_NAMES
)
assert set(FIGURE_NAMES) == {*FIGURE_COLUMNS, "cost_usd"}


def rollups_answer(filters: Filters, by: Sequence[str]) -> bool:
    """Whether the rollups hold what these filters and group keys need."""
    return filters.session_id is None and filters.status is None and "session" not in by


def split(window: Window, now_ms: int | None = None) -> tuple[Window | None, list[Window]]:
    """The window's whole hours (or None) and the part-hours at its edges.

    A window that runs to ``now_ms`` or later takes its current hour whole from the
    rollups: no call is stored after now, and under a heavy load that part-hour holds
    the most raw rows of all.
    """
    first = -(-window.since_ms // HOUR_MS) * HOUR_MS
    last = window.until_ms // HOUR_MS * HOUR_MS
    if now_ms is not None and window.until_ms >= now_ms:
        last = -(-window.until_ms // HOUR_MS) * HOUR_MS
    if first >= last:
        return None, [window]
    edges = [Window(window.since_ms, first), Window(last, max(last, window.until_ms))]
    return Window(first, last), [edge for edge in edges if edge.until_ms > edge.since_ms]


def grouped(
    conn: sqlite3.Connection,
    window: Window,
    filters: Filters,
    by: Sequence[str],
    tz: datetime.tzinfo = datetime.UTC,
    now_ms: int | None = None,
) -> dict[tuple[Any, ...], Figures]:
    """Figures per group of ``by`` keys (time keys as local day or hour numbers in ``tz``); ``()`` for none."""
    offsets = utc_offsets(window, tz) if any(KEY_COLUMNS[key] is None for key in by) else []
    groups: dict[tuple[Any, ...], list[Any]] = {}  # label → sums in the order of FIGURE_NAMES
    extra, extra_params = filters.clause()
    raw_select = f"SELECT {_selected(by, 'created_at', offsets)}{_RAW_FIGURES} FROM llm_traces"
    if not rollups_answer(filters, by):
        where, params = in_window(window)
        sql = f"{raw_select} WHERE {where}{extra}{_grouping(by)}"
        _add(groups, _tuples(conn, sql, params + extra_params), by)
        return {label: Figures(*sums) for label, sums in groups.items()}
    hours, edges = split(window, now_ms)
    with snapshot(conn):
        mark = rolled_to(conn)
        for edge in edges:  # the part-hours: the rows the rollups count
            where, params = in_window(edge)
            sql = f"{raw_select} WHERE {where} AND id <= ?{extra}{_grouping(by)}"
            _add(groups, _tuples(conn, sql, [*params, mark, *extra_params]), by)
        # The rows past the mark, wherever in the window (found by id: a second's worth).
        sql = f"{raw_select} WHERE id > ? AND created_at >= ? AND created_at < ?{extra}{_grouping(by)}"
        _add(groups, _tuples(conn, sql, [mark, window.since_ms, window.until_ms, *extra_params]), by)
        if hours is not None:
            sql = (
                f"SELECT {_selected(by, 'hour', offsets)}{_ROLLUP_FIGURES} FROM cost_rollups"
                f" WHERE hour >= ? AND hour < ?{extra}{_grouping(by)}"
            )
            _add(groups, _tuples(conn, sql, [hours.since_ms, hours.until_ms, *extra_params]), by)
    return {label: Figures(*sums) for label, sums in groups.items()}


def percentiles(
    conn: sqlite3.Connection,
    window: Window,
    filters: Filters,
    fractions: Sequence[float],
    now_ms: int | None = None,
) -> list[float | None]:
    """Latency at each fraction: exact from raw rows, or a bucket's upper bound where rollups answer."""
    # The latency histogram keys on provider and model only.
    if not rollups_answer(filters, ()) or filters.agent_id is not None or filters.channel is not None:
        return _exact_percentiles(conn, window, filters, fractions)
    hours, edges = split(window, now_ms)
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    extra, extra_params = filters.clause(with_status=False)
    raw_select = f"SELECT {bucket_sql('latency_ms')} AS bucket, count(*) AS calls FROM llm_traces"
    with snapshot(conn):
        mark = rolled_to(conn)
        queries = [
            (f"{raw_select} WHERE {where} AND id <= ?{extra} AND latency_ms IS NOT NULL GROUP BY bucket",
             [*params, mark, *extra_params])
            for where, params in (in_window(edge) for edge in edges)
        ]  # fmt: skip
        queries.append((
            f"{raw_select} WHERE id > ? AND created_at >= ? AND created_at < ?{extra} AND latency_ms IS NOT NULL"
            " GROUP BY bucket",
            [mark, window.since_ms, window.until_ms, *extra_params],
        ))  # fmt: skip
        if hours is not None:
            queries.append((
                f"SELECT bucket, sum(calls) AS calls FROM latency_rollups WHERE hour >= ? AND hour < ?{extra}"
                " GROUP BY bucket",
                [hours.since_ms, hours.until_ms, *extra_params],
            ))  # fmt: skip
        for sql, params in queries:
            for row in conn.execute(sql, params):
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


def utc_offsets(window: Window, tz: datetime.tzinfo) -> list[tuple[int, int]]:
    """``[(from_ms, offset_ms), …]``: the zone's UTC offset from each instant on, through the window."""

    def offset_at(ms: int) -> int:
        moment = datetime.datetime.fromtimestamp(ms / 1000, tz)
        delta = moment.utcoffset()
        return int(delta.total_seconds() * 1000) if delta is not None else 0

    found = [(window.since_ms, offset_at(window.since_ms))]
    step_ms = DAY_MS // 2  # zones change offset at most twice a year, never twice in half a day
    probe = window.since_ms
    while probe < window.until_ms:
        following = min(probe + step_ms, window.until_ms)
        if offset_at(following) != found[-1][1]:
            low, high = probe, following  # the change lies in (low, high]: narrow it to the quarter hour
            while high - low > QUARTER_MS:
                middle = (low + high) // 2
                low, high = (middle, high) if offset_at(middle) == found[-1][1] else (low, middle)
            found.append((high, offset_at(high)))
        probe = following
    return found


def _local(column: str, offsets: list[tuple[int, int]]) -> str:
    """``column`` (Unix ms) shifted to local time by the zone's offsets."""
    if len(offsets) == 1:
        return f"({column} + {offsets[0][1]})"
    whens = " ".join(f"WHEN {column} < {start} THEN {offset}" for (start, _), (_, offset) in
                     zip(offsets[1:], offsets, strict=False))  # fmt: skip
    return f"({column} + CASE {whens} ELSE {offsets[-1][1]} END)"


def _selected(by: Sequence[str], time_column: str, offsets: list[tuple[int, int]]) -> str:
    columns = []
    for index, key in enumerate(by):
        pair = KEY_COLUMNS[key]
        if pair is None:
            unit = DAY_MS if key == "day" else HOUR_MS
            column = f"{_local(time_column, offsets)} / {unit}"
        else:
            column = pair[0] if time_column == "created_at" else f"nullif({pair[1]}, '')"
        columns.append(f"{column} AS k{index}, ")
    return "".join(columns)


def _grouping(by: Sequence[str]) -> str:
    return " GROUP BY " + ", ".join(f"k{index}" for index in range(len(by))) if by else ""


def _tuples(conn: sqlite3.Connection, sql: str, params: list[Any]) -> sqlite3.Cursor:
    """Rows as plain tuples: thousands of rollup rows are summed, and a Row per row cost more than the query."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, params)


def _add(groups: dict[tuple[Any, ...], list[Any]], rows: sqlite3.Cursor, by: Sequence[str]) -> None:
    keys = len(by)
    for row in rows:
        values = row[keys:]
        if not values[0]:
            continue  # no calls: an aggregate over no row is one row of NULLs
        label = row[:keys]
        sums = groups.get(label)
        if sums is None:
            groups[label] = [value or 0 for value in values]
        else:
            for index, value in enumerate(values):
                if value:
                    sums[index] += value
