"""The writer folds the calls it writes into the hourly rollups: about once a second, and when it stops,
in the thread and in the process writer; a writer that died holding sums is made good at the next start."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from openclaw_trace.daemon import Daemon
from openclaw_trace.storage import rollups
from tests.conftest import Client, rows

CALLS = [{"provider": "openai", "model": "gpt-4o", "cost_usd": 0.5, "latency_ms": 120} for _ in range(7)]


def rolled_up(db_path: str) -> tuple[int, float, int]:
    [row] = rows(db_path, "SELECT sum(calls) AS calls, sum(cost_reported_usd) AS cost FROM cost_rollups")
    [state] = rows(db_path, "SELECT rolled_to_id FROM rollup_state")
    return row["calls"] or 0, row["cost"] or 0.0, state["rolled_to_id"]


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_calls_reach_the_rollups_within_a_few_seconds_and_health_counts_them(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], writer: str
) -> None:
    daemon = make_daemon(writer=writer)
    client = connect(daemon)
    assert client.post("/v1/traces", CALLS)[0] == 202
    assert daemon.writer.flush(10)
    wait_folded(daemon.config.db_path, 7)
    assert rolled_up(daemon.config.db_path) == (7, 3.5, 7)
    deadline = time.monotonic() + 10
    while client.health()["counters"].get("rollups.calls", 0) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)  # the process writer reports its counters with its next answer
    assert client.health()["counters"]["rollups.calls"] == 7


def test_a_stopping_writer_folds_what_it_holds(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon()
    assert connect(daemon).post("/v1/traces", CALLS)[0] == 202
    daemon.stop()
    assert rolled_up(daemon.config.db_path) == (7, 3.5, 7)


def test_a_roll_up_on_the_writer_while_it_holds_sums_counts_each_call_once(daemon: Daemon, client: Client) -> None:
    assert client.post("/v1/traces", CALLS)[0] == 202
    assert daemon.writer.flush(10)
    daemon.writer.call(rollups.roll_up)  # from the table, as a writer starting after a crash would
    daemon.stop()  # the writer's own fold finds its sums already counted
    assert rolled_up(daemon.config.db_path) == (7, 3.5, 7)


def wait_folded(db_path: str, calls: int) -> None:
    deadline = time.monotonic() + 10
    while rolled_up(db_path)[0] < calls and time.monotonic() < deadline:
        time.sleep(0.05)  # the writer folds on its own clock, busy or idle


def test_calls_a_dead_writer_left_past_the_mark_are_counted_at_the_next_start(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], db_path: str
) -> None:
    first = make_daemon()
    assert connect(first).post("/v1/traces", CALLS)[0] == 202
    assert first.writer.flush(10)
    wait_folded(db_path, 7)
    # As if the writer died holding its sums: the mark goes back under the calls it had counted.
    first.writer.call(lambda conn: conn.execute("UPDATE rollup_state SET rolled_to_id = 0"))
    first.writer.call(lambda conn: conn.execute("DELETE FROM cost_rollups"))
    first.stop()
    assert rolled_up(db_path)[2] == 0
    make_daemon().stop()
    assert rolled_up(db_path) == (7, 3.5, 7)
