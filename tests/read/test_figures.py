"""The figures of a window of model calls: whole hours from the rollups, the edges and the newest rows raw."""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openclaw_trace.read.figures import Figures, grouped, percentiles, rollups_answer, split, utc_offsets
from openclaw_trace.read.filters import Filters
from openclaw_trace.read.reader import open_reader
from openclaw_trace.read.window import Window
from openclaw_trace.storage import rollups
from openclaw_trace.storage.connection import open_write_connection
from openclaw_trace.storage.rollups import HOUR_MS
from openclaw_trace.storage.schema import migrate
from tests.read.conftest import Store
from tests.storage.test_rollups import BASE_MS, HOURS, WriterSums, calls, row_of

H0 = BASE_MS  # a whole hour


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    generated=st.lists(calls, min_size=1, max_size=80),
    since=st.integers(BASE_MS - HOUR_MS, BASE_MS + HOURS * HOUR_MS),
    length=st.integers(1, (HOURS + 1) * HOUR_MS),
    rolled=st.integers(0, 80),
)
def test_a_window_read_from_rollups_and_edges_equals_its_raw_rows(
    tmp_path_factory: pytest.TempPathFactory, generated: list[dict[str, Any]], since: int, length: int, rolled: int
) -> None:
    path = str(tmp_path_factory.mktemp("window") / "oct.db")
    conn = open_write_connection(path)
    migrate(conn)
    rows = [row_of(call) for call in generated]
    writer = WriterSums(conn)
    if rows[:rolled]:
        writer.insert(rows[:rolled])
    writer.fold()  # the rollups count the first rows; the rest are past the mark
    if rows[rolled:]:
        writer.insert(rows[rolled:])
    conn.close()
    window = Window(since, since + length)
    inside = [call for call in generated if window.since_ms <= call["created_at"] < window.until_ms]
    reader = open_reader(path)
    try:
        by_model = grouped(reader, window, Filters(), ("model",))
        total = grouped(reader, window, Filters(), ()).get(())
    finally:
        reader.close()
    assert (total.calls if total else 0) == len(inside)
    for model in {call["model"] for call in inside}:
        mine = [call for call in inside if call["model"] == model]
        found = by_model[(model,)]
        assert found.calls == len(mine)
        assert found.prompt_tokens == sum(call["prompt_tokens"] or 0 for call in mine)
        priced = [call["cost"][0] for call in mine if call["cost"][0] is not None and call["cost"][1] != "unpriced"]
        assert found.cost_usd == pytest.approx(sum(priced))
        assert found.unpriced_calls == len(mine) - len(priced)


@pytest.mark.parametrize(
    ("window", "now_ms", "hours", "edges"),
    [
        # Inside one hour: all raw.
        (Window(H0 + 60_000, H0 + 120_000), None, None, [Window(H0 + 60_000, H0 + 120_000)]),
        # Whole hours only: no edges.
        (Window(H0, H0 + 2 * HOUR_MS), None, Window(H0, H0 + 2 * HOUR_MS), []),
        # Part-hours at both ends.
        (
            Window(H0 - 1000, H0 + HOUR_MS + 1000),
            None,
            Window(H0, H0 + HOUR_MS),
            [Window(H0 - 1000, H0), Window(H0 + HOUR_MS, H0 + HOUR_MS + 1000)],
        ),
        # Running to now: the current hour whole from the rollups (nothing is stored after now).
        (Window(H0, H0 + HOUR_MS + 1000), H0 + HOUR_MS + 1000, Window(H0, H0 + 2 * HOUR_MS), []),
    ],
)
def test_a_window_splits_into_whole_hours_and_edges(
    window: Window, now_ms: int | None, hours: Window | None, edges: list[Window]
) -> None:
    assert split(window, now_ms) == (hours, edges)


def test_the_rollups_answer_only_what_they_are_keyed_by() -> None:
    assert rollups_answer(Filters(model="m", agent_id="a", channel="c"), ("provider", "day"))
    assert not rollups_answer(Filters(session_id="s"), ())
    assert not rollups_answer(Filters(status="error"), ())
    assert not rollups_answer(Filters(), ("session",))


def test_public_figures_are_rounded_with_their_rates() -> None:
    figures = Figures(calls=3, failed_calls=1, cost_usd=0.1234567, latency_sum_ms=1000.0, latency_count=3)
    figures.merge(Figures(calls=1, cost_reported_usd=0.5))
    shown = figures.public()
    assert (shown["calls"], shown["failed_calls"], shown["error_rate"]) == (4, 1, 0.25)
    assert (shown["cost_usd"], shown["cost_reported_usd"]) == (0.123457, 0.5)
    assert shown["latency_avg_ms"] == 333.3
    assert "latency_sum_ms" not in shown and "latency_count" not in shown
    assert Figures().public()["error_rate"] == 0.0
    assert Figures().public()["latency_avg_ms"] is None


def test_sessions_and_statuses_are_read_from_raw_rows_across_the_whole_window(store: Store) -> None:
    for hour in range(3):
        store.call(H0 + hour * HOUR_MS + 10, session_id="s1", status="error" if hour else "ok", prompt_tokens=10)
        store.call(H0 + hour * HOUR_MS + 20, session_id="s2", prompt_tokens=1)
    rollups.roll_up(store.conn)
    store.call(H0 + 2 * HOUR_MS + 30, session_id="s1", prompt_tokens=100)  # past the mark
    reader = open_reader(store.path)
    try:
        window = Window(H0, H0 + 3 * HOUR_MS)
        by_session = grouped(reader, window, Filters(), ("session",))
        failed = grouped(reader, window, Filters(status="error"), ())
        by_model = grouped(reader, window, Filters(), ("model",))
    finally:
        reader.close()
    assert {key: (f.calls, f.prompt_tokens) for key, f in by_session.items()} == {("s1",): (4, 130), ("s2",): (3, 3)}
    assert failed[()].calls == 2
    assert by_model[("gpt-4o",)].calls == 7  # the rollups' 6 and the one past the mark


def latencies(store: Store, values: list[float | None]) -> sqlite3.Connection:
    for n, latency in enumerate(values):
        store.call(H0 + n, latency_ms=latency, agent_id="main")
    rollups.roll_up(store.conn)
    return open_reader(store.path)


def test_percentiles_are_exact_from_raw_rows_and_bucket_bounds_from_the_rollups(store: Store) -> None:
    reader = latencies(store, [12.0, 25.0, 33.0, 640.0, None])
    try:
        window = Window(H0, H0 + HOUR_MS)
        exact = percentiles(reader, window, Filters(agent_id="main"), (0.5, 0.95))  # keyed on less: raw
        bucketed = percentiles(reader, window, Filters(), (0.5, 0.95))
        nothing = percentiles(reader, Window(H0 - HOUR_MS, H0), Filters(), (0.5,))
        nothing_raw = percentiles(reader, Window(H0 - HOUR_MS, H0), Filters(agent_id="main"), (0.5,))
    finally:
        reader.close()
    assert exact == [33.0, 640.0]
    assert bucketed == [30.0, 700.0]  # the upper bounds of the buckets 25 and 640 fall in
    assert nothing == nothing_raw == [None]


def test_a_zone_with_one_offset_through_the_window_has_one() -> None:
    window = Window(H0, H0 + 30 * 24 * HOUR_MS)
    assert utc_offsets(window, datetime.UTC) == [(H0, 0)]
    india = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    assert utc_offsets(window, india) == [(H0, 19_800_000)]
