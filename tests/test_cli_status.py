"""The status command's output for a person: grouped, times and sizes readable; --json as it came."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable

import pytest

from openclaw_trace.api.health import HIDDEN
from openclaw_trace.cli_status import format_feeds, format_health, run
from openclaw_trace.config import Config
from openclaw_trace.daemon import Daemon
from tests.conftest import Client

NOW_MS = 1_800_000_000_000


def test_each_feed_says_what_it_delivered_and_when_last() -> None:
    feeds = {
        "plugin": {"events": 1234, "last_at_ms": NOW_MS - 12_000},
        "otlp": {"events": 0, "last_at_ms": None},
        "log": {"events": 5, "last_at_ms": NOW_MS - 3 * 3600_000},
    }
    assert format_feeds(feeds, uptime_s=7300, now_ms=NOW_MS).splitlines() == [
        "feeds (since the daemon started 2 h ago):",
        "  plugin  1,234 events, the last 12 s ago",
        "  otlp    nothing",
        "  log     5 events, the last 3 h ago",
    ]


def test_the_summary_answers_is_it_working_before_the_details() -> None:
    report = {
        "status": "degraded",
        "uptime_seconds": 7300.5,
        "version": "0.1.0",
        "db_status": "ok",
        "db_size_bytes": 1_234_500_000,
        "wal_size_bytes": 12_000_000,
        "db_path": "/data/oct.db",
        "queue_depth": 3,
        "queue_capacity": 512,
        "events_received": 12345,
        "events_written": 12340,
        "events_dropped": 5,
        "dropped_by_reason": {"queue_full": 5, "shutdown": 0},
        "last_push_time": NOW_MS - 180_000,
        "last_push_status": "ok",
        "unsynced_count": 7,
        "feeds": {"plugin": {"events": 0, "last_at_ms": None}},
        "push": {"circuit": "closed", "last_error": None},
        "metrics": {"last_sample_ms": NOW_MS - 15_000, "interval_s": 15.0},
        "upkeep": {"wal": {"restart_threshold_bytes": 50_000_000}},
    }
    pushed_at = datetime.datetime.fromtimestamp((NOW_MS - 180_000) / 1000).strftime("%H:%M:%S")
    sampled_at = datetime.datetime.fromtimestamp((NOW_MS - 15_000) / 1000).strftime("%H:%M:%S")
    assert format_health(report, NOW_MS).split("\n\n") == [
        "openclaw-trace 0.1.0: degraded, up 2 h 1 min\n"
        "  database  ok, 1,234.5 MB (WAL 12.0 MB) at /data/oct.db\n"
        "  events    12,345 received, 12,340 written, 5 dropped (queue_full 5); queue 3 of 512\n"
        f"  push      last ok 3 min ago ({pushed_at}); 7 rows not pushed yet",
        "feeds (since the daemon started 2 h ago):\n  plugin  nothing",
        "push:\n  circuit     closed\n  last_error  -",
        f"metrics:\n  last_sample_ms  15 s ago ({sampled_at})\n  interval_s      15.0",
        "upkeep:\n  wal.restart_threshold_bytes  50.0 MB",
    ]


def test_without_push_the_summary_says_off() -> None:
    assert "  push      off; 0 rows not pushed yet" in format_health({"status": "ok"}, NOW_MS)


def test_status_of_a_running_daemon_reads_with_its_token_and_json_stays_as_it_came(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon = make_daemon(read_token="r3ad")
    url = f"http://127.0.0.1:{connect(daemon).port}"
    assert run(Config(read_token="r3ad"), url, as_json=True) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["db_path"] == daemon.config.db_path  # the reader's view, token sent
    assert run(Config(), url, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["db_path"] == HIDDEN
    assert run(Config(read_token="r3ad"), url, as_json=False) == 0
    assert capsys.readouterr().out.startswith("openclaw-trace ")
