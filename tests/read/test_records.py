"""traces, trace, errors, sessions and a session's timeline."""

from __future__ import annotations

import sqlite3

import pytest

from openclaw_trace.read import records
from openclaw_trace.read.filters import Filters
from openclaw_trace.read.problems import BadQuery, NotFound
from openclaw_trace.read.window import Window
from tests.read.conftest import HOUR_MS, NOW_MS, Store

DAY = Window(NOW_MS - 24 * HOUR_MS, NOW_MS)


def test_traces_are_newest_first_and_paged_by_cursor(store: Store, reader: sqlite3.Connection) -> None:
    ids = [store.call(NOW_MS - minute * 60_000, session_id="s1") for minute in range(1, 8)]
    store.call(NOW_MS - 2 * 60_000, model="other")  # same time as another: the id breaks the tie
    seen: list[str] = []
    cursor = None
    while True:
        page = records.traces(reader, DAY, Filters(model="gpt-4o"), limit=3, cursor=cursor)
        seen += [item["trace_id"] for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids
    with pytest.raises(BadQuery, match="cursor"):
        records.traces(reader, DAY, Filters(), cursor="abc")
    with pytest.raises(BadQuery, match="limit: 0 is out of range"):
        records.traces(reader, DAY, Filters(), limit=0)


def test_one_trace_whole(store: Store, reader: sqlite3.Connection) -> None:
    trace_id = store.call(NOW_MS, input_text="hi", output_text="hello", metadata={"run_id": "r1"})
    got = records.trace(reader, trace_id)
    assert (got["input_text"], got["output_text"], got["metadata"]) == ("hi", "hello", {"run_id": "r1"})
    with pytest.raises(NotFound, match="no trace 'nope'"):
        records.trace(reader, "nope")


def test_errors_listed_and_grouped(store: Store, reader: sqlite3.Connection) -> None:
    store.error(NOW_MS - 1000, category="rate_limit")
    store.error(NOW_MS - 2000, category="rate_limit")
    store.error(NOW_MS - 3000, error_type="crash", category="run_failed")
    store.error(NOW_MS - 48 * HOUR_MS, category="old")
    listed = records.errors(reader, DAY, Filters(), {"error_type": "llm_error"})
    assert [e["category"] for e in listed.items] == ["rate_limit", "rate_limit"]
    grouped = records.error_groups(reader, DAY, Filters(), {}, "category")
    assert [(g["category"], g["errors"]) for g in grouped] == [("rate_limit", 2), ("run_failed", 1)]
    with pytest.raises(BadQuery, match="error_type: 'oops'"):
        records.errors(reader, DAY, Filters(), {"error_type": "oops"})
    with pytest.raises(BadQuery, match="by: unknown key"):
        records.error_groups(reader, DAY, Filters(), {}, "colour")


def test_sessions_by_cost_and_by_recency(store: Store, reader: sqlite3.Connection) -> None:
    store.call(NOW_MS - 5 * HOUR_MS, session_id="cheap", cost_usd=0.1, cost_source="reported")
    store.call(NOW_MS - 4 * HOUR_MS, session_id="dear", cost_usd=2.0, cost_source="reported")
    store.call(NOW_MS - 1 * HOUR_MS, session_id="cheap", cost_usd=0.2, cost_source="reported", status="error")
    by_cost = records.sessions(reader, DAY, Filters())
    assert [(s["session_id"], s["calls"], s["cost_usd"], s["failed_calls"]) for s in by_cost] == [
        ("dear", 1, 2.0, 0),
        ("cheap", 2, 0.3, 1),
    ]
    assert [s["session_id"] for s in records.sessions(reader, DAY, Filters(), sort="recent")] == ["cheap", "dear"]
    with pytest.raises(BadQuery, match="sort"):
        records.sessions(reader, DAY, Filters(), sort="size")


def test_a_sessions_timeline_holds_its_calls_errors_and_the_gateways_events_of_those_minutes(
    store: Store, reader: sqlite3.Connection
) -> None:
    store.call(NOW_MS - 120_000, session_id="s1")
    store.error(NOW_MS - 60_000, session_id="s1", message="rate limited")
    store.add("gateway_event", NOW_MS - 90_000, kind="channel_disconnect", message="telegram gone")
    store.add("gateway_event", NOW_MS - 3 * HOUR_MS, kind="config_reload", message="long before")
    store.call(NOW_MS, session_id="s2")
    got = records.session(reader, "s1", DAY)
    assert [(e["kind"], e["created_at"]) for e in got["events"]] == [
        ("call", NOW_MS - 120_000),
        ("gateway", NOW_MS - 90_000),
        ("error", NOW_MS - 60_000),
    ]
    assert (got["calls"], got["errors"]) == (1, 1)
    with pytest.raises(NotFound):
        records.session(reader, "unknown", DAY)
    with pytest.raises(NotFound):  # outside the window it is looked for in
        records.session(reader, "s1", Window(NOW_MS - 48 * HOUR_MS, NOW_MS - 24 * HOUR_MS))
