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
