"""The filters every read takes, as SQL with its parameters, run here on a real database."""

from __future__ import annotations

import sqlite3

import pytest

from openclaw_trace.read.filters import MAX_LIMIT, Filters, checked_limit, in_window
from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import Window
from tests.read.conftest import NOW_MS, Store


def test_a_status_must_be_ok_or_error() -> None:
    assert Filters(status="error").status == "error"
    with pytest.raises(BadQuery) as refused:
        Filters(status="failed")
    assert refused.value.param == "status"
    assert "use ok or error" in str(refused.value)


def test_each_filter_set_is_one_exact_match() -> None:
    assert Filters().clause() == ("", [])
    assert Filters.names() == ("provider", "model", "agent_id", "session_id", "channel", "status")
    odd = "m'; DROP TABLE llm_traces; --"  # a value is a parameter, never SQL
    filters = Filters(model=odd, channel="tg", status="ok")
    assert filters.clause() == (" AND model = ? AND channel = ? AND status = ?", [odd, "tg", "ok"])
    assert filters.clause(with_status=False) == (" AND model = ? AND channel = ?", [odd, "tg"])


def test_the_window_and_the_filters_select_the_rows_they_name(store: Store, reader: sqlite3.Connection) -> None:
    store.call(NOW_MS - 1, model="a", status="ok")  # just before the window
    inside = [store.call(NOW_MS, model="a", status="ok"), store.call(NOW_MS + 999, model="a", status="error")]
    store.call(NOW_MS + 1000, model="a")  # the window's end is not in it
    store.call(NOW_MS + 1, model="b")
    where, params = in_window(Window(NOW_MS, NOW_MS + 1000))
    extra, extra_params = Filters(model="a").clause()
    found = reader.execute(f"SELECT trace_id FROM llm_traces WHERE {where}{extra} ORDER BY id", params + extra_params)
    assert [row["trace_id"] for row in found] == inside
    only_failed, failed_params = Filters(model="a", status="error").clause()
    found = reader.execute(f"SELECT trace_id FROM llm_traces WHERE {where}{only_failed}", params + failed_params)
    assert [row["trace_id"] for row in found] == inside[1:]


def test_a_limit_is_the_default_when_absent_and_refused_out_of_range() -> None:
    assert checked_limit(None, 20) == 20
    assert checked_limit(1, 20) == 1
    assert checked_limit(MAX_LIMIT, 20) == MAX_LIMIT
    for limit in (0, -5, MAX_LIMIT + 1):
        with pytest.raises(BadQuery, match=f"limit: {limit} is out of range: use 1 to 1000"):
            checked_limit(limit, 20)
