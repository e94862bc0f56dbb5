"""POST /v1/traces and /v1/errors against a real daemon and a real SQLite file."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows

FULL_TRACE: dict[str, Any] = {
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "input_text": "What is the weather in Lisbon?",
    "output_text": "Sunny, 21 °C.",
    "prompt_tokens": 120,
    "completion_tokens": 14,
    "total_tokens": 134,
    "cost_usd": 0.00057,
    "latency_ms": 812.5,
    "status": "ok",
    "error_type": None,
    "session_id": "sess-1",
    "agent_id": "main",
    "channel": "telegram",
    "metadata": {"run_id": "run-7", "nested": {"list": [1, 2, 3], "flag": True}},
}


def test_trace_round_trips_every_field(daemon: Daemon, client: Client) -> None:
    status, answer = client.post("/v1/traces", FULL_TRACE)
    assert status == 202
    assert answer == {"received": 1, "queued": 1, "dropped": 0}
    assert daemon.writer.flush(5)
    [row] = rows(daemon.config.db_path, "SELECT * FROM llm_traces")
    for field, value in FULL_TRACE.items():
        stored = json.loads(row[field]) if field == "metadata" else row[field]
        assert stored == value, field
    assert uuid.UUID(row["trace_id"]).version == 4
    assert row["synced"] == 0
    assert row["pushed_at"] is None
    assert row["created_at"] > 1_600_000_000_000  # Unix milliseconds


def test_row_becomes_visible_within_the_batch_window(daemon: Daemon, client: Client) -> None:
    client.post("/v1/traces", {"provider": "openai", "model": "gpt-4o"})
    # No flush: the writer's own 500 ms window has to commit the lone event.
    deadline = time.monotonic() + 10
    while client.health()["events_written"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 1


@pytest.mark.parametrize(
    ("error_type", "category", "severity"),
    [
        ("llm_error", "api_failure", "error"),
        ("llm_error", "rate_limit", "warning"),
        ("llm_error", "timeout", "error"),
        ("llm_error", "malformed_response", "error"),
        ("crash", "process_crash", "critical"),
        ("crash", "oom_kill", "critical"),
        ("crash", "unhandled_exception", "error"),
        ("system_error", "disk_full", "critical"),
        ("system_error", "network_failure", "error"),
        ("system_error", "permission_denied", "error"),
    ],
)
def test_error_types_and_categories_persist(
    daemon: Daemon, client: Client, error_type: str, category: str, severity: str
) -> None:
    event = {
        "error_type": error_type,
        "category": category,
        "severity": severity,
        "message": f"{category} happened",
        "stack_trace": "Traceback (most recent call last):\n  ...",
        "provider": "openai",
        "metadata": {"attempt": 3},
    }
    assert client.post("/v1/errors", event)[0] == 202
    assert daemon.writer.flush(5)
    [row] = rows(daemon.config.db_path, "SELECT * FROM error_events")
    assert (row["error_type"], row["category"], row["severity"]) == (error_type, category, severity)
    assert row["message"] == f"{category} happened"
    assert row["stack_trace"].startswith("Traceback")
    assert json.loads(row["metadata"]) == {"attempt": 3}
    assert uuid.UUID(row["trace_id"]).version == 4


def test_error_severity_defaults_to_error(daemon: Daemon, client: Client) -> None:
    client.post("/v1/errors", {"error_type": "crash", "message": "boom"})
    assert daemon.writer.flush(5)
    [row] = rows(daemon.config.db_path, "SELECT severity FROM error_events")
    assert row["severity"] == "error"


def test_same_payload_twice_gives_two_rows_with_distinct_v4_ids(daemon: Daemon, client: Client) -> None:
    client.post("/v1/traces", FULL_TRACE)
    client.post("/v1/traces", FULL_TRACE)
    assert daemon.writer.flush(5)
    ids = [r["trace_id"] for r in rows(daemon.config.db_path, "SELECT trace_id FROM llm_traces")]
    assert len(ids) == 2
    assert ids[0] != ids[1]
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_array_of_events_is_accepted_in_one_request(daemon: Daemon, client: Client) -> None:
    events = [{"provider": "openai", "model": f"m{i}"} for i in range(120)]
    status, answer = client.post("/v1/traces", events)
    assert status == 202
    assert answer == {"received": 120, "queued": 120, "dropped": 0}
    assert daemon.writer.flush(5)
    models = [r["model"] for r in rows(daemon.config.db_path, "SELECT model FROM llm_traces ORDER BY id")]
    assert models == [f"m{i}" for i in range(120)]


def test_one_invalid_event_rejects_the_whole_array(daemon: Daemon, client: Client) -> None:
    events = [{"provider": "openai", "model": "ok"}, {"provider": "openai"}]
    status, answer = client.post("/v1/traces", events)
    assert status == 400
    assert "model" in answer["error"]
    assert "$[1]" in answer["error"]
    assert daemon.writer.flush(5)
    assert rows(daemon.config.db_path, "SELECT id FROM llm_traces") == []


def test_text_is_truncated_to_max_text_bytes(make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(max_text_bytes=100)
    client = connect(daemon)
    client.post(
        "/v1/traces",
        {"provider": "p", "model": "m", "input_text": "a" * 1000, "output_text": "é" * 1000},
    )
    client.post("/v1/errors", {"error_type": "crash", "message": "m" * 500, "stack_trace": "s" * 500})
    assert daemon.writer.flush(5)
    [trace] = rows(daemon.config.db_path, "SELECT input_text, output_text FROM llm_traces")
    assert trace["input_text"] == "a" * 100
    assert trace["output_text"] == "é" * 50  # 2 bytes each: 100 bytes, no split character
    [error] = rows(daemon.config.db_path, "SELECT message, stack_trace FROM error_events")
    assert len(error["message"].encode()) == 100
    assert len(error["stack_trace"].encode()) == 100


def test_bearer_token_is_required_when_set(make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(ingest_token="s3cret")
    client = connect(daemon)
    event = {"provider": "p", "model": "m"}
    assert client.post("/v1/traces", event)[0] == 401
    assert client.post("/v1/traces", event, {"Authorization": "Bearer wrong"})[0] == 401
    assert client.post("/v1/traces", event, {"Authorization": "Bearer s3cret"})[0] == 202
    assert client.get("/health")[0] == 200  # health stays open for probes


def test_unknown_path_and_wrong_method(client: Client) -> None:
    assert client.get("/v1/nothing")[0] == 404
    status, answer = client.get("/v1/traces")
    assert status == 405
    assert "POST" in answer["error"]


def test_native_traces_get_cost_with_provenance(daemon: Daemon, client: Client) -> None:
    client.post(
        "/v1/traces",
        [
            {"provider": "openai", "model": "gpt-4o", "prompt_tokens": 1000, "completion_tokens": 100, "cost_usd": 0.5},
            {
                "provider": "openai",
                "model": "gpt-4o",
                "prompt_tokens": 1000,
                "completion_tokens": 100,
                "cache_read_tokens": 2000,
            },
            {"provider": "local", "model": "llama-3-8b", "prompt_tokens": 1000},
        ],
    )
    assert daemon.writer.flush(5)
    stored = rows(daemon.config.db_path, "SELECT cost_usd, cost_source, cache_read_tokens FROM llm_traces ORDER BY id")
    assert stored[0] == {"cost_usd": 0.5, "cost_source": "reported", "cache_read_tokens": None}
    assert stored[1]["cost_source"] == "computed"
    assert stored[1]["cost_usd"] == pytest.approx((1000 * 2.5 + 100 * 10 + 2000 * 1.25) / 1e6)
    assert stored[1]["cache_read_tokens"] == 2000
    assert stored[2] == {"cost_usd": None, "cost_source": "unpriced", "cache_read_tokens": None}
