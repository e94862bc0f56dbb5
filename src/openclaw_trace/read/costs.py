"""What the agent cost: ``summary`` of a window and ``cost`` grouped by up to two keys.

Cost keeps its provenance: the sum covers priced calls only (``reported`` by
the sender or ``computed`` from the price table), and calls with no price
are counted apart as ``unpriced_calls``, never added as $0.

Day and hour buckets are taken in the caller's time zone: SQL groups by
quarter hours (every time zone's offset is a multiple of 15 minutes) and
Python folds the quarters into days or hours of that zone.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from openclaw_trace.read.filters import Filters, checked_limit, in_window
from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import Window, day_start_ms

GROUP_KEYS = {
    "model": "model",
    "provider": "provider",
    "agent": "agent_id",
    "channel": "channel",
    "session": "session_id",
    "day": None,  # time buckets: see module docstring
    "hour": None,
}
_QUARTER_MS = 900_000

# The figures of a set of calls, summed in SQL; the same for summary and each cost group.
_FIGURES = """
    count(*) AS calls,
    sum(status = 'error') AS failed_calls,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(total_tokens) AS total_tokens,
    sum(CASE WHEN cost_source = 'unpriced' OR cost_usd IS NULL THEN NULL ELSE cost_usd END) AS cost_usd,
    sum(CASE WHEN cost_source = 'reported' THEN cost_usd END) AS cost_reported_usd,
    sum(CASE WHEN cost_source = 'computed' THEN cost_usd END) AS cost_computed_usd,
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

    def add(self, row: sqlite3.Row) -> None:
        for name in asdict(self):
            setattr(self, name, getattr(self, name) + (row[name] or 0))

    def public(self) -> dict[str, Any]:
        """The figures as the CLI's --json and the API show them."""
        shown = {k: v for k, v in asdict(self).items() if k not in ("latency_sum_ms", "latency_count")}
        shown["cost_usd"] = round(self.cost_usd, 6)
        shown["cost_reported_usd"] = round(self.cost_reported_usd, 6)
        shown["cost_computed_usd"] = round(self.cost_computed_usd, 6)
        shown["error_rate"] = round(self.failed_calls / self.calls, 4) if self.calls else 0.0
        shown["latency_avg_ms"] = round(self.latency_sum_ms / self.latency_count, 1) if self.latency_count else None
        return shown


@dataclass
class Summary:
    window: Window
    figures: Figures
    errors: int  # error events of any kind in the window
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_periods: dict[str, dict[str, Any]] = field(default_factory=dict)  # today / 7d / 30d

    def public(self) -> dict[str, Any]:
        return {
            "since_ms": self.window.since_ms,
            "until_ms": self.window.until_ms,
            **self.figures.public(),
            "errors": self.errors,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "cost_periods": self.cost_periods,
        }


def _figures(conn: sqlite3.Connection, window: Window, filters: Filters) -> Figures:
    where, params = in_window(window)
    extra, extra_params = filters.clause()
    row = conn.execute(f"SELECT {_FIGURES} FROM llm_traces WHERE {where}{extra}", params + extra_params).fetchone()
    figures = Figures()
    figures.add(row)
    return figures


def _percentiles(conn: sqlite3.Connection, window: Window, filters: Filters, count: int) -> list[float | None]:
    where, params = in_window(window)
    extra, extra_params = filters.clause()
    found: list[float | None] = []
    for fraction in (0.50, 0.95):
        if count == 0:
            found.append(None)
            continue
        offset = min(count - 1, int(fraction * count))
        row = conn.execute(
            f"SELECT latency_ms FROM llm_traces WHERE {where}{extra} AND latency_ms IS NOT NULL"
            " ORDER BY latency_ms LIMIT 1 OFFSET ?",
            [*params, *extra_params, offset],
        ).fetchone()
        found.append(row[0] if row else None)
    return found


def summary(conn: sqlite3.Connection, window: Window, filters: Filters, now_ms: int, tz: datetime.tzinfo) -> Summary:
    """Calls, tokens, cost by provenance, errors and latency of a window; cost of today, 7 d and 30 d."""
    figures = _figures(conn, window, filters)
    where, params = in_window(window)
    extra, extra_params = filters.clause(with_status=False)
    errors = conn.execute(f"SELECT count(*) FROM error_events WHERE {where}{extra}", params + extra_params).fetchone()
    p50, p95 = _percentiles(conn, window, filters, figures.latency_count)
    periods = {
        "today": Window(day_start_ms(now_ms, tz), now_ms + 1),
        "7d": Window(now_ms - 7 * 86_400_000, now_ms + 1),
        "30d": Window(now_ms - 30 * 86_400_000, now_ms + 1),
    }
    cost_periods = {}
    for name, period in periods.items():
        period_figures = _figures(conn, period, filters)
        cost_periods[name] = {
            "cost_usd": round(period_figures.cost_usd, 6),
            "calls": period_figures.calls,
            "unpriced_calls": period_figures.unpriced_calls,
        }
    return Summary(window, figures, int(errors[0]), p50, p95, cost_periods)


def parse_group_keys(by: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in by.split(",") if key.strip())
    if not 1 <= len(keys) <= 2:
        raise BadQuery("by", "give one or two keys, e.g. model or day,model")
    for key in keys:
        if key not in GROUP_KEYS:
            raise BadQuery("by", f"unknown key {key!r}: use {', '.join(GROUP_KEYS)}")
    if len(set(keys)) != len(keys):
        raise BadQuery("by", "the two keys must differ")
    return keys


def cost(
    conn: sqlite3.Connection,
    window: Window,
    filters: Filters,
    by: tuple[str, ...],
    tz: datetime.tzinfo,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The figures per group of ``by`` keys, groups by cost (time keys: by time), at most ``limit`` groups."""
    where, params = in_window(window)
    extra, extra_params = filters.clause()
    columns = [GROUP_KEYS[key] or f"created_at / {_QUARTER_MS}" for key in by]
    selected = ", ".join(f"{column} AS k{index}" for index, column in enumerate(columns))
    grouping = ", ".join(f"k{index}" for index in range(len(columns)))
    sql = f"SELECT {selected}, {_FIGURES} FROM llm_traces WHERE {where}{extra} GROUP BY {grouping}"
    groups: dict[tuple[Any, ...], Figures] = {}
    for row in conn.execute(sql, params + extra_params):
        label = tuple(_label(key, row[f"k{index}"], tz) for index, key in enumerate(by))
        groups.setdefault(label, Figures()).add(row)
    time_keys = [index for index, key in enumerate(by) if GROUP_KEYS[key] is None]
    if time_keys:
        ordered = sorted(groups.items(), key=lambda item: (*(str(item[0][i]) for i in time_keys), -item[1].cost_usd))
    else:
        ordered = sorted(groups.items(), key=lambda item: (-item[1].cost_usd, -item[1].calls))
    shown = ordered[: checked_limit(limit, 200)]
    return [{**dict(zip(by, label, strict=True)), **figures.public()} for label, figures in shown]


def _label(key: str, value: Any, tz: datetime.tzinfo) -> Any:
    if GROUP_KEYS[key] is not None:
        return value
    moment = datetime.datetime.fromtimestamp(int(value) * _QUARTER_MS / 1000, tz)
    return moment.strftime("%Y-%m-%d") if key == "day" else moment.strftime("%Y-%m-%d %H:00")
