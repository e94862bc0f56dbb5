"""The status command's human output."""

from __future__ import annotations

from openclaw_trace.cli import format_feeds, format_health

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


def test_status_puts_the_feeds_first_and_keeps_the_rest() -> None:
    report = {"status": "ok", "uptime_seconds": 5, "feeds": {"plugin": {"events": 0, "last_at_ms": None}}}
    text = format_health(report)
    assert text.startswith("feeds (since the daemon started 5 s ago):\n  plugin  nothing\n\n")
    assert text.splitlines()[-2:] == ["status          ok", "uptime_seconds  5"]
