"""/health and /metrics on a real daemon: always 200, and they say what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows


class BrokenPart:
    """A background part whose health report raises (a bug in it, say)."""

    name = "broken"
    stop_after_drain = False

    def start(self) -> None: ...

    def stop(self, timeout_s: float) -> bool:
        return True

    def health(self) -> dict[str, Any] | None:
        raise RuntimeError("cannot count")


def test_a_part_whose_health_raises_degrades_the_report_not_the_answer(daemon: Daemon, client: Client) -> None:
    daemon.ctx.components.append(BrokenPart())
    report = client.health()  # asserts the 200
    assert report["broken"] == {"error": "RuntimeError: cannot count", "degraded": True}
    assert report["status"] == "degraded"


def test_metrics_are_prometheus_text_with_the_counts(client: Client) -> None:
    assert client.post("/v1/traces", {"provider": "p", "model": "m"})[0] == 202
    status, text = client.get("/metrics")
    assert status == 200
    assert client.last_headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'oct_events_received_total{kind="trace"} 1' in text
    assert "# TYPE oct_queue_depth gauge" in text


def test_health_says_where_the_writer_runs_and_a_process_writer_stores(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon(writer="process")
    client = connect(daemon)
    assert client.post("/v1/traces", {"provider": "p", "model": "m"})[0] == 202
    assert daemon.writer.flush(10)
    report = client.health()
    assert report["writer"]["mode"] == "process"
    assert report["writer"]["alive"] is True
    assert report["events_written"] == 1
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 1
