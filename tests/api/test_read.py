"""GET /api/v1/*: the read layer over HTTP, its errors and its access rule, on a real daemon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from openclaw_trace.api.health import HIDDEN
from openclaw_trace.config import Config, ConfigError, is_loopback, refuse_an_open_bind
from openclaw_trace.daemon import Daemon
from tests.conftest import Client


def fill(daemon: Daemon, client: Client) -> None:
    calls = [
        {"provider": "openai", "model": "gpt-4o", "cost_usd": 1.25, "session_id": "s1", "input_text": "q1"},
        {"provider": "openai", "model": "gpt-4o", "cost_usd": 0.75, "session_id": "s1", "status": "error"},
        {"provider": "local", "model": "llama", "session_id": "s2"},  # no price known: unpriced
    ]
    assert client.post("/v1/traces", calls)[0] == 202
    assert client.post("/v1/errors", {"error_type": "llm_error", "message": "429", "category": "rate_limit"})[0] == 202
    assert daemon.writer.flush(10)


def get(client: Client, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return client.request("GET", path, headers=headers)


def test_every_endpoint_answers_the_clis_json(daemon: Daemon, client: Client) -> None:
    fill(daemon, client)
    status, summary = get(client, "/api/v1/summary?since=1h")
    assert status == 200
    assert (summary["calls"], summary["failed_calls"], summary["unpriced_calls"]) == (3, 1, 1)
    assert summary["cost_usd"] == pytest.approx(2.0)
    assert summary["errors"] == 1
    status, by_model = get(client, "/api/v1/cost?since=1h&by=model")
    assert [(row["model"], row["calls"]) for row in by_model] == [("gpt-4o", 2), ("llama", 1)]
    status, page = get(client, "/api/v1/traces?limit=2")
    assert status == 200 and len(page["items"]) == 2 and page["next_cursor"]
    status, rest = get(client, f"/api/v1/traces?limit=2&cursor={page['next_cursor']}")
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    trace_id = next(item["trace_id"] for item in page["items"] + rest["items"] if item["status"] == "ok"
                    and item["model"] == "gpt-4o")  # fmt: skip
    status, whole = get(client, f"/api/v1/trace?id={trace_id}")
    assert (status, whole["input_text"]) == (200, "q1")
    status, groups = get(client, "/api/v1/errors?by=category")
    assert groups[0]["category"] == "rate_limit" and groups[0]["errors"] == 1
    status, sessions = get(client, "/api/v1/sessions")
    assert [s["session_id"] for s in sessions] == ["s1", "s2"]
    status, timeline = get(client, "/api/v1/session?id=s1")
    assert (status, timeline["calls"]) == (200, 2)


@pytest.mark.parametrize(
    ("path", "status", "param"),
    [
        ("/api/v1/cost?by=colour", 400, "by"),
        ("/api/v1/summary?since=5%20parsecs", 400, "since"),
        ("/api/v1/summary?since=1h&until=2h", 400, "until"),
        ("/api/v1/traces?limit=0", 400, "limit"),
        ("/api/v1/traces?limit=lots", 400, "limit"),
        ("/api/v1/traces?cursor=xyz", 400, "cursor"),
        ("/api/v1/traces?colour=red", 400, "colour"),
        ("/api/v1/summary?tz=Mars/Olympus", 400, "tz"),
        ("/api/v1/trace", 400, "id"),
        ("/api/v1/trace?id=nope", 404, None),
        ("/api/v1/session?id=nope", 404, None),
        ("/api/v1/nothing", 404, None),
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(
    daemon: Daemon, client: Client, path: str, status: int, param: str | None
) -> None:
    got_status, body = get(client, path)
    assert got_status == status
    assert isinstance(body, dict) and body["error"]
    if param:
        assert body["param"] == param


def test_host_metrics_and_the_push_log(daemon: Daemon, client: Client) -> None:
    status, samples = get(client, "/api/v1/metrics?since=1h&limit=5")
    assert status == 200 and isinstance(samples, list)
    status, cycles = get(client, "/api/v1/push")
    assert (status, cycles) == (200, [])
    assert get(client, "/api/v1/push?limit=0")[0] == 400


def test_only_get(daemon: Daemon, client: Client) -> None:
    status, _ = client.post("/api/v1/summary", {})
    assert status == 405


def test_the_read_token_guards_reads_and_the_ingest_token_does_not_grant_them(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon(read_token="r3ad", ingest_token="wr1te")
    client = connect(daemon)
    assert get(client, "/api/v1/summary")[0] == 401
    assert get(client, "/api/v1/summary", {"Authorization": "Bearer wr1te"})[0] == 401
    assert get(client, "/api/v1/summary", {"Authorization": "Bearer r3ad"})[0] == 200
    assert client.post("/v1/traces", {"provider": "p", "model": "m"}, {"Authorization": "Bearer r3ad"})[0] == 401


def test_off_loopback_the_daemon_refuses_to_start_without_a_read_token(db_path: str) -> None:
    with pytest.raises(ConfigError, match=r"OCT_HOST.*OCT_READ_TOKEN"):
        Daemon(Config(host="0.0.0.0", port=0, db_path=db_path))


def test_off_loopback_an_open_ingest_must_be_meant(db_path: str) -> None:
    with pytest.raises(ConfigError, match=r"OCT_HOST.*OCT_INGEST_TOKEN.*OCT_ALLOW_OPEN"):
        refuse_an_open_bind(Config(host="0.0.0.0", read_token="r", db_path=db_path))
    refuse_an_open_bind(Config(host="0.0.0.0", read_token="r", ingest_token="i", db_path=db_path))
    refuse_an_open_bind(Config(host="0.0.0.0", read_token="r", allow_open=True, db_path=db_path))
    refuse_an_open_bind(Config(host="127.0.0.1", db_path=db_path))  # loopback: no tokens needed


def test_health_shows_paths_and_errors_only_to_who_may_read(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], db_path: str
) -> None:
    client = connect(make_daemon(read_token="r3ad", push_endpoint="http://127.0.0.1:9/hook/s3cret"))
    status, anyone = get(client, "/health")
    assert status == 200
    assert anyone["db_path"] == anyone["push"]["endpoint"] == HIDDEN
    assert anyone["status"] and anyone["queue_depth"] == 0  # the fixed fields stay for everyone
    status, reader = get(client, "/health", {"Authorization": "Bearer r3ad"})
    assert reader["db_path"] == db_path
    assert reader["push"]["endpoint"].startswith("http://127.0.0.1:9/…#")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("gateway.example")
