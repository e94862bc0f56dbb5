"""Time windows as people type them: ``15m``, ``24h``, ``7d`` back from now, ``today``,
a date (``2026-12-01``, midnight in the chosen zone) or Unix milliseconds.

Pure: the clock and the time zone come in. Days are local days unless the
caller asks for UTC (``--utc`` / ``tz=UTC``), since "what did my agent cost
today" means the owner's today.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openclaw_trace.read.problems import BadQuery

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Unix ms from 2001 on: a bare number below that is more likely a mistyped duration.
_MIN_UNIX_MS = 978_307_200_000


@dataclass(frozen=True)
class Window:
    """``[since_ms, until_ms)`` in Unix milliseconds."""

    since_ms: int
    until_ms: int


def zone(name: str | None) -> datetime.tzinfo:
    """The time zone ``name`` (``UTC``, ``Europe/Paris``), or this machine's when None."""
    if name is None or name == "local":
        local = datetime.datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    if name.upper() == "UTC":
        return datetime.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadQuery("tz", f"unknown time zone {name!r} (try UTC or Europe/Paris)") from None


def parse_instant(text: str, param: str, now_ms: int, tz: datetime.tzinfo) -> int:
    """One end of a window as Unix ms; BadQuery naming ``param`` when it is none of the forms."""
    value = text.strip().lower()
    if value == "now":
        return now_ms
    if value in ("today", "yesterday"):
        today = datetime.datetime.fromtimestamp(now_ms / 1000, tz).date()
        day = today if value == "today" else today - datetime.timedelta(days=1)
        return _midnight_ms(day, tz)
    if value == "month":
        today = datetime.datetime.fromtimestamp(now_ms / 1000, tz).date()
        return _midnight_ms(today.replace(day=1), tz)
    match = _DURATION.match(value)
    if match:
        return now_ms - int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if _DATE.match(value):
        try:
            return _midnight_ms(datetime.date.fromisoformat(value), tz)
        except ValueError:
            raise BadQuery(param, f"{text!r} is not a real date") from None
    if value.isdigit() and int(value) >= _MIN_UNIX_MS:
        return int(value)
    raise BadQuery(
        param, f"{text!r} is not a time: use a duration back from now (15m, 24h, 7d), today, a date or Unix ms"
    )


def parse_window(
    since: str | None, until: str | None, now_ms: int, tz: datetime.tzinfo, default_since: str = "24h"
) -> Window:
    """The window from ``since`` (default ``default_since``) to ``until`` (default now, included)."""
    since_ms = parse_instant(since or default_since, "since", now_ms, tz)
    until_ms = parse_instant(until, "until", now_ms, tz) if until else now_ms + 1
    if until_ms <= since_ms:
        raise BadQuery("until", f"until ({until or 'now'}) must be after since ({since or default_since})")
    return Window(since_ms, until_ms)


def day_start_ms(at_ms: int, tz: datetime.tzinfo) -> int:
    """Midnight, in ``tz``, of the day holding ``at_ms``."""
    return _midnight_ms(datetime.datetime.fromtimestamp(at_ms / 1000, tz).date(), tz)


def _midnight_ms(day: datetime.date, tz: datetime.tzinfo) -> int:
    return int(datetime.datetime.combine(day, datetime.time(), tz).timestamp() * 1000)
