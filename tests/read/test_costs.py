"""summary and cost against sums worked out by hand."""

from __future__ import annotations

import datetime
import sqlite3

import pytest

from openclaw_trace.read.costs import cost, parse_group_keys, summary
from openclaw_trace.read.figures import utc_offsets
from openclaw_trace.read.filters import Filters
from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import Window, zone
from tests.read.conftest import HOUR_MS, NOW_MS, Store

UTC = datetime.UTC
LAST_DAY = Window(NOW_MS - 24 * HOUR_MS, NOW_MS)


def fill(store: Store) -> None:
    # Three priced calls and one unpriced in the last day; one old call outside it.
    store.call(
        NOW_MS - 1 * HOUR_MS,
        model="gpt-4o",
        prompt_tokens=100,
        completion_tokens=10,
        total_tokens=110,
        cost_usd=0.5,
        cost_source="reported",
        latency_ms=100,
        session_id="s1",
        agent_id="main",
    )
    store.call(
        NOW_MS - 2 * HOUR_MS,
        model="gpt-4o",
        prompt_tokens=200,
        completion_tokens=20,
        total_tokens=220,
        cost_usd=0.25,
        cost_source="computed",
        latency_ms=300,
        session_id="s1",
        agent_id="main",
    )
    store.call(
        NOW_MS - 3 * HOUR_MS,
        provider="anthropic",
        model="claude",
        status="error",
        error_type="rate_limit",
        prompt_tokens=50,
        completion_tokens=0,
        total_tokens=50,
        cost_usd=0.0,
        cost_source="reported",
        latency_ms=200,
        session_id="s2",
        agent_id="ops",
        cache_read_tokens=7,
    )
    store.call(
        NOW_MS - 4 * HOUR_MS,
        model="mystery",
        prompt_tokens=10,
        completion_tokens=1,
        total_tokens=11,
        cost_source="unpriced",
        latency_ms=400,
        session_id="s2",
        agent_id="ops",
    )
    store.call(NOW_MS - 40 * HOUR_MS, model="gpt-4o", cost_usd=9.0, cost_source="reported", latency_ms=5)
    store.error(NOW_MS - 3 * HOUR_MS, provider="anthropic", model="claude", session_id="s2", category="rate_limit")
    store.error(NOW_MS - 30 * HOUR_MS, category="timeout")


def test_summary_of_a_window(store: Store, reader: sqlite3.Connection) -> None:
    fill(store)
    got = summary(reader, LAST_DAY, Filters(), NOW_MS, UTC).public()
    assert got["calls"] == 4
    assert got["failed_calls"] == 1
    assert got["error_rate"] == 0.25
    assert (got["prompt_tokens"], got["completion_tokens"], got["total_tokens"]) == (360, 31, 391)
    assert got["cache_read_tokens"] == 7
    assert got["cost_usd"] == pytest.approx(0.75)  # the unpriced call is not $0: it is counted apart
    assert got["cost_reported_usd"] == pytest.approx(0.5)
    assert got["cost_computed_usd"] == pytest.approx(0.25)
    assert got["unpriced_calls"] == 1
    assert got["errors"] == 1
    # Of 100, 200, 300 and 400 ms, from the hourly rollups' buckets (upper bounds of 1-1.5-2-3-5-7 steps).
    assert (got["latency_p50_ms"], got["latency_p95_ms"]) == (200, 500)
    assert got["latency_avg_ms"] == 250
    assert got["cost_periods"]["30d"] == {"cost_usd": pytest.approx(9.75), "calls": 5, "unpriced_calls": 1}


def test_summary_with_filters(store: Store, reader: sqlite3.Connection) -> None:
    fill(store)
    got = summary(reader, LAST_DAY, Filters(agent_id="ops"), NOW_MS, UTC).public()
    assert (got["calls"], got["unpriced_calls"], got["errors"]) == (2, 1, 0)
    assert summary(reader, LAST_DAY, Filters(status="error"), NOW_MS, UTC).public()["calls"] == 1
    empty = summary(reader, LAST_DAY, Filters(model="none"), NOW_MS, UTC).public()
    assert (empty["calls"], empty["cost_usd"], empty["latency_p50_ms"], empty["error_rate"]) == (0, 0, None, 0.0)


def test_cost_by_model_is_most_expensive_first(store: Store, reader: sqlite3.Connection) -> None:
    fill(store)
    rows = cost(reader, LAST_DAY, Filters(), ("model",), UTC)
    assert [(r["model"], r["calls"], r["cost_usd"], r["unpriced_calls"]) for r in rows] == [
        ("gpt-4o", 2, 0.75, 0),
        ("claude", 1, 0.0, 0),
        ("mystery", 1, 0.0, 1),
    ]


def test_cost_by_day_and_model_in_the_zone_asked_for(store: Store, reader: sqlite3.Connection) -> None:
    fill(store)
    window = Window(NOW_MS - 48 * HOUR_MS, NOW_MS)
    rows = cost(reader, window, Filters(), ("day", "model"), UTC)
    day = datetime.datetime.fromtimestamp((NOW_MS - HOUR_MS) / 1000, UTC).strftime("%Y-%m-%d")
    old_day = datetime.datetime.fromtimestamp((NOW_MS - 40 * HOUR_MS) / 1000, UTC).strftime("%Y-%m-%d")
    got = {(r["day"], r["model"]): (r["calls"], r["cost_usd"]) for r in rows}
    assert got[(old_day, "gpt-4o")] == (1, 9.0)
    assert sum(calls for (d, _), (calls, _) in got.items() if d == day) + got[(old_day, "gpt-4o")][0] == 5
    assert [r["day"] for r in rows] == sorted(r["day"] for r in rows)


def test_bad_group_keys() -> None:
    for by, message in [
        ("colour", "unknown key 'colour'"),
        ("", "one or two"),
        ("a,b,c", "one or two"),
        ("model,model", "must differ"),
    ]:
        with pytest.raises(BadQuery, match=message):
            parse_group_keys(by)
    assert parse_group_keys("day, model") == ("day", "model")


def test_days_follow_the_zone_through_a_dst_change(store: Store, reader: sqlite3.Connection) -> None:
    paris = zone("Europe/Paris")

    # Paris leaves summer time on 2026-10-25 at 01:00 UTC (03:00 → 02:00 local).
    def at(text: str) -> int:
        return int(datetime.datetime.fromisoformat(text).timestamp() * 1000)

    store.call(at("2026-10-24T22:30:00+00:00"), cost_usd=1.0, cost_source="reported")  # 00:30 on the 25th (UTC+2)
    store.call(at("2026-10-25T22:30:00+00:00"), cost_usd=2.0, cost_source="reported")  # 23:30 on the 25th (UTC+1)
    store.call(at("2026-10-25T23:30:00+00:00"), cost_usd=4.0, cost_source="reported")  # 00:30 on the 26th
    window = Window(at("2026-10-24T00:00:00+00:00"), at("2026-10-27T00:00:00+00:00"))
    rows = cost(reader, window, Filters(), ("day",), paris)
    assert [(r["day"], r["cost_usd"]) for r in rows] == [("2026-10-25", 3.0), ("2026-10-26", 4.0)]
    hours = cost(reader, window, Filters(), ("hour",), paris)
    assert [r["hour"] for r in hours] == ["2026-10-25 00:00", "2026-10-25 23:00", "2026-10-26 00:00"]
    changes = utc_offsets(window, paris)
    assert [offset for _, offset in changes] == [7_200_000, 3_600_000]
    assert abs(changes[1][0] - at("2026-10-25T01:00:00+00:00")) <= 900_000


def test_a_window_to_now_takes_its_current_hour_whole_from_the_rollups(
    store: Store, reader: sqlite3.Connection
) -> None:
    # No call is stored after now: the current hour's rollup is exactly its raw rows so far.
    for minutes in (1, 5, 30, 59, 61, 125):
        store.call(NOW_MS - minutes * 60_000, cost_usd=0.25, cost_source="reported", latency_ms=minutes)
    window = Window(NOW_MS - 3 * HOUR_MS, NOW_MS)
    with_now = cost(reader, window, Filters(), ("model",), UTC, now_ms=NOW_MS)
    raw_edges = cost(reader, window, Filters(), ("model",), UTC)
    assert with_now == raw_edges
    assert with_now[0]["calls"] == 6
