"""``openclaw-trace status``: a running daemon's ``/health``, grouped for a person (``--json``: as it came).

The first lines answer "is it working": the verdict and uptime, where the
data goes, what came in and what was lost, the last push, and what each
feed delivered. Then one block per part of the daemon, its figures made
readable: epoch milliseconds as "3 min ago (01:05:11)", byte counts in MB.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from openclaw_trace.config import Config

# The report's keys shown in the summary lines above the per-part blocks.
_SUMMARIZED = frozenset({
    "status", "uptime_seconds", "version", "db_status", "db_size_bytes", "wal_size_bytes", "db_path",
    "queue_depth", "queue_capacity", "events_received", "events_written", "events_dropped", "dropped_by_reason",
    "received_by_kind", "written_by_kind", "last_push_time", "last_push_status", "unsynced_count", "feeds",
})  # fmt: skip


def run(config: Config, url: str | None, as_json: bool) -> int:
    """Print the daemon's health; exit 0 when it is ok, 1 when degraded, in error or not answering."""
    if url is None:
        host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
        url = f"http://{host}:{config.port}"
    request = urllib.request.Request(url.rstrip("/") + "/health")
    if config.read_token:  # /health shows its paths and errors to a reader only
        request.add_header("Authorization", f"Bearer {config.read_token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            report: dict[str, Any] = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"openclaw-trace: no daemon answering at {url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if as_json else format_health(report, time.time_ns() // 1_000_000))
    return 0 if report.get("status") == "ok" else 1


def ago(ms: int) -> str:
    seconds = max(0, ms) // 1000
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def when(at_ms: int | None, now_ms: int) -> str:
    """``3 min ago (01:05:11)`` in local time, the date too when it is not today; ``never`` for None."""
    if at_ms is None:
        return "never"
    at = datetime.datetime.fromtimestamp(at_ms / 1000)
    today = datetime.datetime.fromtimestamp(now_ms / 1000).date()
    shown = at.strftime("%H:%M:%S" if at.date() == today else "%Y-%m-%d %H:%M:%S")
    return f"{ago(now_ms - at_ms)} ({shown})"


def megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.1f} MB"


def format_feeds(feeds: dict[str, Any], uptime_s: float, now_ms: int) -> str:
    """One line per feed: what it delivered since the daemon started, and when last."""
    lines = [f"feeds (since the daemon started {ago(int(uptime_s * 1000))}):"]
    for feed, figures in feeds.items():
        events, last_at_ms = figures.get("events", 0), figures.get("last_at_ms")
        said = "nothing" if not events else f"{events:,} events, the last {ago(now_ms - int(last_at_ms or now_ms))}"
        lines.append(f"  {feed:<7} {said}")
    return "\n".join(lines)


def format_health(report: dict[str, Any], now_ms: int) -> str:
    """The summary lines, the feeds, then one block per part (see the module docstring)."""
    get = report.get
    dropped = {reason: n for reason, n in (get("dropped_by_reason") or {}).items() if n}
    lost = ", ".join(f"{reason} {n:,}" for reason, n in dropped.items())
    push = (
        "off"
        if "push" not in report
        else f"last {get('last_push_status') or '-'} {when(get('last_push_time'), now_ms)}"
    )
    summary = [
        f"openclaw-trace {get('version', '?')}: {get('status', '?')}, up {_duration(get('uptime_seconds') or 0)}",
        f"  database  {get('db_status', '?')}, {megabytes(get('db_size_bytes'))}"
        f" (WAL {megabytes(get('wal_size_bytes'))}) at {get('db_path', '-')}",
        f"  events    {get('events_received', 0):,} received, {get('events_written', 0):,} written,"
        f" {get('events_dropped', 0):,} dropped{f' ({lost})' if lost else ''};"
        f" queue {get('queue_depth', 0):,} of {get('queue_capacity', '?')}",
        f"  push      {push}; {get('unsynced_count', 0):,} rows not pushed yet",
    ]
    blocks = ["\n".join(summary)]
    feeds = get("feeds")
    if isinstance(feeds, dict):
        blocks.append(format_feeds(feeds, float(get("uptime_seconds") or 0), now_ms))
    for name, section in report.items():
        if name not in _SUMMARIZED and isinstance(section, dict):
            blocks.append(_block(name, section, now_ms))
    return "\n\n".join(blocks)


def _block(name: str, section: dict[str, Any], now_ms: int) -> str:
    rows: list[tuple[str, str]] = []

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append((prefix, _readable(prefix, value, now_ms)))

    add("", section)
    if not rows:
        return f"{name}: -"
    width = max(len(key) for key, _ in rows)
    return f"{name}:\n" + "\n".join(f"  {key:<{width}}  {value}" for key, value in rows)


def _readable(key: str, value: Any, now_ms: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if key.endswith("_ms") and value > 10**12:  # an instant in epoch milliseconds
        return when(int(value), now_ms)
    if key.endswith("_bytes"):
        return megabytes(int(value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
