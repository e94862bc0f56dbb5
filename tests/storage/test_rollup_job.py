"""RollupJob through a real daemon's writer: the new calls are rolled up, /health says so."""

from __future__ import annotations

from openclaw_trace.daemon import Daemon
from openclaw_trace.storage.rollup_job import RollupJob
from tests.conftest import Client, rows


def test_the_job_folds_new_calls_into_the_rollups_through_the_writer(daemon: Daemon, client: Client) -> None:
    calls = [{"provider": "openai", "model": "gpt-4o", "cost_usd": 0.5, "latency_ms": 120} for _ in range(7)]
    assert client.post("/v1/traces", calls)[0] == 202
    assert daemon.writer.flush(10)
    job = next(component for component in daemon.components if isinstance(component, RollupJob))
    assert job.run_once() == 7
    assert job.run_once() == 0  # nothing new
    [rollup] = rows(daemon.config.db_path, "SELECT calls, cost_reported_usd FROM cost_rollups")
    assert (rollup["calls"], rollup["cost_reported_usd"]) == (7, 3.5)
    [state] = rows(daemon.config.db_path, "SELECT rolled_to_id FROM rollup_state")
    assert state["rolled_to_id"] == 7
    section = client.health()["rollups"]
    assert (section["passes"], section["rows_rolled"], section["failures"]) == (2, 7, 0)


def test_the_ingest_books_are_kept_a_row_a_minute_and_read_back_with_what_moved(daemon: Daemon, client: Client) -> None:
    job = next(component for component in daemon.components if isinstance(component, RollupJob))
    job.record_books()
    assert client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 3)[0] == 202
    assert daemon.writer.flush(10)
    job.record_books()
    status, books = client.request("GET", "/api/v1/books?since=1h")
    assert status == 200 and len(books) == 2
    assert books[1]["received"] - books[0]["received"] == 3 == books[1]["received_delta"]
    assert books[1]["written_delta"] >= 3
    assert books[1]["dropped_by_reason"]["queue_full"] == 0
