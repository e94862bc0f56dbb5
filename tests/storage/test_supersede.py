"""The plugin's errors replace the gateway log's and OTLP's about the same run, whichever came first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows

RUN = "9b0aa24cd189393daa34a88e26ac2480"
OTHER_RUN = "53c7ae2cd1127888747710bb4b16d333"


def log_error(trace_id: str, message: str = "request failed (HTTP 500)") -> dict[str, Any]:
    return {"error_type": "llm_error", "message": message, "metadata": {"source": "gateway_log", "trace_id": trace_id}}


def plugin_error(error_type: str = "llm_error") -> dict[str, Any]:
    return {
        "error_type": error_type,
        "message": "500 the model failed",
        "metadata": {"source": "openclaw-plugin", "run_id": "r1", "w3c_trace_id": RUN},
    }


def stored(db_path: str) -> list[tuple[str, str]]:
    found = rows(db_path, "SELECT error_type, json_extract(metadata, '$.source') AS source FROM error_events")
    return sorted((row["source"] or "-", row["error_type"]) for row in found)


@pytest.mark.parametrize(("plugin_first", "writer"), [(False, "thread"), (True, "thread"), (True, "process")])
def test_the_plugins_errors_replace_the_logs_and_otlps_of_the_same_run(
    plugin_first: bool,
    writer: str,
    make_daemon: Callable[..., Daemon],
    connect: Callable[[Daemon], Client],
    db_path: str,
) -> None:
    daemon = make_daemon(writer=writer)
    client = connect(daemon)
    lesser = [
        log_error(RUN),
        log_error(RUN, "lane task error: lane=main"),
        {"error_type": "crash", "message": "agent run failed", "metadata": {"source": "otlp", "trace_id": RUN}},
        log_error(OTHER_RUN),  # a run the plugin did not report: kept
        {"error_type": "system_error", "message": "channel down", "metadata": {"source": "gateway_log"}},
        {"error_type": "llm_error", "message": "from a script", "metadata": {"trace_id": RUN}},  # not a feed of ours
    ]
    batches = [[plugin_error(), plugin_error("crash")], lesser]
    for batch in reversed(batches) if not plugin_first else batches:
        assert client.post("/v1/errors", batch)[0] == 202
        assert daemon.writer.flush(10)
    assert stored(db_path) == [
        ("-", "llm_error"),
        ("gateway_log", "llm_error"),
        ("gateway_log", "system_error"),
        ("openclaw-plugin", "crash"),
        ("openclaw-plugin", "llm_error"),
    ]
    health = client.health()
    assert health["counters"]["dedup.superseded_errors"] == 3
    assert health["unsynced_count"] == 5
