"""What the agent cost: ``summary`` of a window and ``cost`` grouped by up to two keys.

Cost keeps its provenance: the sum covers priced calls only (``reported`` by
the sender or ``computed`` from the price table), and calls with no price
are counted apart as ``unpriced_calls``, never added as $0.

The figures come from ``read.figures``: the hourly rollups for a window's
whole hours (cost history outlives the raw rows), raw rows at its edges.
Day and hour buckets are taken in the caller's time zone (see ``read.figures``).
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from openclaw_trace.read import figures
from openclaw_trace.read.figures import KEY_COLUMNS, Figures
from openclaw_trace.read.filters import Filters, checked_limit, in_window
from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import Window, day_start_ms

GROUP_KEYS = tuple(KEY_COLUMNS)


@dataclass
class Summary:
    window: Window
    totals: Figures
    errors: int  # error events of any kind in the window
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_periods: dict[str, dict[str, Any]] = field(default_factory=dict)  # today / 7d / 30d

    def public(self) -> dict[str, Any]:
        return {
            "since_ms": self.window.since_ms,
            "until_ms": self.window.until_ms,
            **self.totals.public(),
            "errors": self.errors,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "cost_periods": self.cost_periods,
        }


def _total(conn: sqlite3.Connection, window: Window, filters: Filters, now_ms: int) -> Figures:
    return figures.grouped(conn, window, filters, (), now_ms=now_ms).get((), Figures())


def summary(conn: sqlite3.Connection, window: Window, filters: Filters, now_ms: int, tz: datetime.tzinfo) -> Summary:
    """Calls, tokens, cost by provenance, errors and latency of a window; cost of today, 7 d and 30 d."""
    totals: dict[Window, Figures] = {}  # a period equal to the window (since=30d) is read once

    def total_of(period: Window) -> Figures:
        if period not in totals:
            totals[period] = _total(conn, period, filters, now_ms)
        return totals[period]

    total = total_of(window)
    where, params = in_window(window)
    extra, extra_params = filters.clause(with_status=False)
    errors = conn.execute(f"SELECT count(*) FROM error_events WHERE {where}{extra}", params + extra_params).fetchone()
    p50, p95 = figures.percentiles(conn, window, filters, (0.50, 0.95), now_ms)
    periods = {
        "today": Window(day_start_ms(now_ms, tz), now_ms + 1),
        "7d": Window(now_ms - 7 * 86_400_000, now_ms + 1),
        "30d": Window(now_ms - 30 * 86_400_000, now_ms + 1),
    }
    cost_periods = {}
    for name, period in periods.items():
        period_figures = total_of(period) if period.until_ms > period.since_ms else Figures()
        cost_periods[name] = {
            "cost_usd": round(period_figures.cost_usd, 6),
            "calls": period_figures.calls,
            "unpriced_calls": period_figures.unpriced_calls,
        }
    return Summary(window, total, int(errors[0]), p50, p95, cost_periods)


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
    now_ms: int | None = None,
) -> list[dict[str, Any]]:
    """The figures per group of ``by`` keys, groups by cost (time keys: by time), at most ``limit`` groups."""
    groups: dict[tuple[Any, ...], Figures] = {}
    for numbers, found in figures.grouped(conn, window, filters, by, tz, now_ms).items():
        label = tuple(_label(key, value) for key, value in zip(by, numbers, strict=True))
        groups.setdefault(label, Figures()).merge(found)
    time_keys = [index for index, key in enumerate(by) if KEY_COLUMNS[key] is None]
    if time_keys:
        ordered = sorted(groups.items(), key=lambda item: (*(str(item[0][i]) for i in time_keys), -item[1].cost_usd))
    else:
        ordered = sorted(groups.items(), key=lambda item: (-item[1].cost_usd, -item[1].calls))
    shown = ordered[: checked_limit(limit, 200)]
    return [{**dict(zip(by, label, strict=True)), **found.public()} for label, found in shown]


_EPOCH = datetime.datetime(1970, 1, 1)


def _label(key: str, value: Any) -> Any:
    """A group's label: the key's value, or for a time key the local day or hour its number stands for."""
    if KEY_COLUMNS[key] is not None:
        return value
    if key == "day":
        return (_EPOCH + datetime.timedelta(days=int(value))).strftime("%Y-%m-%d")
    return (_EPOCH + datetime.timedelta(hours=int(value))).strftime("%Y-%m-%d %H:00")
