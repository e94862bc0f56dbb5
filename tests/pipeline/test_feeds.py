"""Which feed delivered a row, and /health's account of each feed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from openclaw_trace.daemon import Daemon
from openclaw_trace.pipeline.feeds import FEEDS, feed_of, feed_totals, feeds_by_kind
from tests.conftest import Client


def test_a_rows_feed_comes_from_its_kind_or_its_metadata_source() -> None:
    assert feed_of("trace", '{"source":"openclaw-plugin","run_id":"r1"}') == "plugin"
    assert feed_of("trace", '{"source":"otlp","service_name":"openclaw-gateway"}') == "otlp"
    assert feed_of("error", '{"source":"otlp_log"}') == "otlp"
    assert feed_of("error", '{"source":"gateway_log","subsystem":"agent/embedded"}') == "log"
    assert feed_of("error", '{"run_id":"r1"}') == "api"
    assert feed_of("trace", None) == "api"
    assert feed_of("gateway_event", None) == "log"
    assert feed_of("metric_point", '{"source":"openclaw-plugin"}') == "otlp"
    assert feed_of("system_metric", None) == "host"


def test_feed_counts_of_a_batch() -> None:
    plugin = ("id", 1, "fakellm", '{"source":"openclaw-plugin"}')
    other = ("id", 1, "fakellm", None)
    by_kind = feeds_by_kind({"trace": [plugin, plugin, other], "gateway_event": [("id", 1, None)] * 3})
    assert by_kind == {"trace": {"plugin": 2, "api": 1}, "gateway_event": {"log": 3}}
    assert feed_totals(by_kind) == {"plugin": 2, "api": 1, "log": 3}


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_health_says_what_each_feed_delivered(
    writer: str, make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon(writer=writer)
    client = connect(daemon)
    plugin_trace = {"provider": "p", "model": "m", "metadata": {"source": "openclaw-plugin"}}
    assert client.post("/v1/traces", [plugin_trace, plugin_trace])[0] == 202
    assert client.post("/v1/errors", {"error_type": "crash", "message": "x"})[0] == 202
    assert daemon.writer.flush(10)
    feeds = client.health()["feeds"]
    assert list(feeds) == list(FEEDS)
    assert feeds["plugin"]["events"] == 2
    assert feeds["api"]["events"] == 1
    assert isinstance(feeds["plugin"]["last_at_ms"], int)
    assert feeds["otlp"] == {"events": 0, "last_at_ms": None}
    json.dumps(feeds)
