"""Windows as people type them."""

from __future__ import annotations

import datetime

import pytest

from openclaw_trace.read.problems import BadQuery
from openclaw_trace.read.window import parse_instant, parse_window, zone

NOW = int(datetime.datetime(2026, 12, 7, 15, 30, tzinfo=datetime.UTC).timestamp() * 1000)
UTC = datetime.UTC
PARIS = zone("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", NOW - 15 * 60_000),
        ("24h", NOW - 86_400_000),
        ("7d", NOW - 7 * 86_400_000),
        ("1.5h", NOW - 5_400_000),
        ("now", NOW),
        ("today", NOW - (15 * 3600 + 30 * 60) * 1000),
        ("yesterday", NOW - (15 * 3600 + 30 * 60) * 1000 - 86_400_000),
        ("2026-12-01", int(datetime.datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)),
        ("month", int(datetime.datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)),
        ("1796000000000", 1796000000000),
    ],
)
def test_the_forms_of_a_time(text: str, expected: int) -> None:
    assert parse_instant(text, "since", NOW, UTC) == expected


def test_today_is_the_local_day_of_the_zone_asked_for() -> None:
    paris_midnight = int(datetime.datetime(2026, 12, 7, tzinfo=PARIS).timestamp() * 1000)
    assert parse_instant("today", "since", NOW, PARIS) == paris_midnight == NOW - (16 * 3600 + 30 * 60) * 1000


@pytest.mark.parametrize("text", ["5 parsecs", "-3h", "2026-02-30", "12", "", "7 days ago"])
def test_a_bad_time_names_the_parameter(text: str) -> None:
    with pytest.raises(BadQuery, match=r"^until: ") as caught:
        parse_instant(text, "until", NOW, UTC)
    assert caught.value.param == "until"


def test_until_must_come_after_since() -> None:
    with pytest.raises(BadQuery, match="until"):
        parse_window("1h", "2h", NOW, UTC)
    window = parse_window(None, None, NOW, UTC)
    assert (window.since_ms, window.until_ms) == (NOW - 86_400_000, NOW + 1)  # now included


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(BadQuery, match="tz: unknown time zone"):
        zone("Mars/Olympus")
