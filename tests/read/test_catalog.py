"""The read layer's queries by name with string parameters, as the read API and the MCP server ask them."""

from __future__ import annotations

import json
import sqlite3

import pytest

from openclaw_trace.read import catalog
from openclaw_trace.read.problems import BadQuery, NotFound
from tests.read.conftest import HOUR_MS, NOW_MS, Store

WINDOW = {"since": str(NOW_MS - HOUR_MS), "until": str(NOW_MS + HOUR_MS)}


@pytest.fixture
def filled(store: Store) -> Store:
    store.call(NOW_MS - 60_000, agent_id="main", session_id="s1", cost_usd=0.5, cost_source="reported")
    store.call(NOW_MS, agent_id="ops", session_id="s2", status="error", model="claude")
    store.error(NOW_MS, agent_id="main", session_id="s1", category="rate_limit")
    store.error(NOW_MS, category="rate_limit")
    store.error(NOW_MS, category="timeout")
    store.add("system_metric", NOW_MS, cpu_percent=12.5)
    return store


def run(reader: sqlite3.Connection, name: str, **params: str) -> object:
    return catalog.build(name, params)(reader)


def test_every_query_answers_in_json(filled: Store, reader: sqlite3.Connection) -> None:
    trace_id = filled.call(NOW_MS, session_id="s1")
    asked = {
        "summary": WINDOW,
        "cost": {**WINDOW, "by": "agent"},
        "traces": WINDOW,
        "errors": WINDOW,
        "sessions": WINDOW,
        "trace": {"id": trace_id},
        "session": {"id": "s1", **WINDOW},
        "metrics": {"since": str(NOW_MS - HOUR_MS)},
        "push": {},
        "books": WINDOW,
    }
    assert set(asked) == set(catalog.QUERIES)
    for name, params in asked.items():
        json.dumps(run(reader, name, **params))  # the API and the MCP server send it as it is


def test_filter_parameters_name_the_columns_they_match(filled: Store, reader: sqlite3.Connection) -> None:
    def models(**params: str) -> list[str]:
        page = run(reader, "traces", **WINDOW, **params)
        assert isinstance(page, dict)
        return [item["model"] for item in page["items"]]

    assert models(agent="main") == ["gpt-4o"]
    assert models(session="s2") == ["claude"]
    assert models(status="error") == ["claude"]
    assert models(model="claude", agent="main") == []


def test_errors_listed_or_grouped_by_a_key(filled: Store, reader: sqlite3.Connection) -> None:
    grouped = run(reader, "errors", **WINDOW, by="category")
    assert grouped == [
        {"category": "rate_limit", "errors": 2, "last_at": NOW_MS},
        {"category": "timeout", "errors": 1, "last_at": NOW_MS},
    ]
    page = run(reader, "errors", **WINDOW, category="rate_limit", agent="main", limit="1")
    assert isinstance(page, dict) and len(page["items"]) == 1 and page["next_cursor"] is None


def test_a_session_is_read_whatever_the_filters_of_the_list(filled: Store, reader: sqlite3.Connection) -> None:
    timeline = run(reader, "session", id="s1", **WINDOW)
    assert isinstance(timeline, dict)
    assert (timeline["calls"], timeline["errors"]) == (1, 1)
    assert [event["kind"] for event in timeline["events"]] == ["call", "error"]
    with pytest.raises(BadQuery, match="agent: unknown parameter; session takes id, limit, since, tz, until, utc"):
        catalog.build("session", {"id": "s1", "agent": "main"})


def test_an_unknown_parameter_is_named_with_the_ones_the_query_takes() -> None:
    with pytest.raises(BadQuery) as refused:
        catalog.build("push", {"limit": "5", "colour": "red"})
    assert refused.value.param == "colour"
    assert str(refused.value) == "colour: unknown parameter; push takes limit"


def test_an_unknown_query_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        catalog.build("everything", {})


@pytest.mark.parametrize(
    ("limit", "message"),
    [("lots", "'lots' is not a number"), ("-1", "'-1' is not a number"), ("0", "0 is out of range"),
     ("1001", "1001 is out of range")],
)  # fmt: skip
def test_a_bad_limit_is_refused_naming_it(limit: str, message: str, reader: sqlite3.Connection) -> None:
    with pytest.raises(BadQuery) as refused:
        run(reader, "traces", **WINDOW, limit=limit)
    assert refused.value.param == "limit"
    assert message in str(refused.value)


def test_one_trace_or_session_needs_its_id(reader: sqlite3.Connection) -> None:
    for name in ("trace", "session"):
        with pytest.raises(BadQuery, match="id: required"):
            catalog.build(name, {})
    with pytest.raises(NotFound, match="no trace 'nope'"):
        run(reader, "trace", id="nope")


def test_metrics_since_a_time_and_the_newest_first_limit(filled: Store, reader: sqlite3.Connection) -> None:
    filled.add("system_metric", NOW_MS + 1, cpu_percent=50.0)
    samples = run(reader, "metrics", since=str(NOW_MS), limit="1")
    assert isinstance(samples, list)
    assert [sample["cpu_percent"] for sample in samples] == [50.0]
    everything = run(reader, "metrics")
    assert isinstance(everything, list) and len(everything) == 2
