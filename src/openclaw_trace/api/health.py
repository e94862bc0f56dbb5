"""``GET /health`` (always 200) and ``GET /metrics`` (Prometheus text).

Both are built from in-memory counters and two ``stat`` calls, never a
query, so they stay cheap however large the database grows.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from openclaw_trace.api.context import AppContext, PushState
from openclaw_trace.api.http import Receive, Scope, Send, send_bytes, send_json
from openclaw_trace.api.read import may_read
from openclaw_trace.pipeline.feeds import FEEDS
from openclaw_trace.stats import StatsSnapshot
from openclaw_trace.storage.connection import file_size, wal_path

log = logging.getLogger("openclaw_trace.api")

# A queue_full drop this recent keeps /health "degraded".
QUEUE_FULL_DEGRADED_S = 60.0


def overall_status(snapshot: StatsSnapshot, now_ms: int) -> tuple[str, str]:
    """(status, db_status): ok/degraded/error and ok/busy/error."""
    if snapshot.writer_failures and snapshot.writer_db_error:
        return "error", "error"
    if not snapshot.writer_alive:
        return "error", "ok"
    if snapshot.writer_failures:
        return "degraded", "busy"
    full_at = snapshot.last_queue_full_ms
    if full_at is not None and now_ms - full_at < QUEUE_FULL_DEGRADED_S * 1000:
        return "degraded", "ok"
    return "ok", "ok"


def health_report(ctx: AppContext) -> dict[str, Any]:
    snapshot = ctx.stats.snapshot()
    now_ms = time.time_ns() // 1_000_000
    status, db_status = overall_status(snapshot, now_ms)
    db_path = ctx.config.db_path
    last_push_time, last_push_status = last_push(ctx)
    report = {
        "status": status,
        "uptime_seconds": round(time.monotonic() - ctx.started_monotonic, 3),
        "version": ctx.version,
        "db_status": db_status,
        "db_size_bytes": file_size(db_path),
        "wal_size_bytes": file_size(wal_path(db_path)),
        "queue_depth": ctx.queue.depth(),
        "events_received": snapshot.events_received,
        "events_dropped": snapshot.events_dropped,
        "last_push_time": last_push_time,
        "last_push_status": last_push_status,
        "unsynced_count": snapshot.unsynced,
        # Beyond the fixed twelve: the detail behind them.
        "events_written": snapshot.events_written,
        "dropped_by_reason": snapshot.dropped_by_reason(),
        "received_by_kind": snapshot.received,
        "written_by_kind": snapshot.written,
        "queue_capacity": ctx.queue.capacity,
        "writer": {
            "mode": ctx.config.writer,
            "alive": snapshot.writer_alive,
            "consecutive_failures": snapshot.writer_failures,
            "last_error": snapshot.writer_last_error,
        },
        "db_path": db_path,
        "counters": dict(sorted(snapshot.counters.items())),
        "feeds": feeds_report(snapshot),
    }
    if ctx.otlp_decoder is not None:
        report["otlp_decoder"] = ctx.otlp_decoder.health()
    for component in ctx.components:
        try:
            section = component.health()
        except Exception as exc:  # /health answers 200 whatever a part does; its section says what broke
            log.exception("health of %s failed", component.name)
            section = {"error": f"{type(exc).__name__}: {exc}", "degraded": True}
        if section is not None:
            report[component.name] = section
            # A part that says it is degraded (e.g. push with its circuit open) degrades the whole.
            if section.get("degraded") and report["status"] == "ok":
                report["status"] = "degraded"
    return report


def last_push(ctx: AppContext) -> tuple[int | None, str | None]:
    """When the last push cycle started (ms) and its status; (None, None) while push is off or has not run."""
    for component in ctx.components:
        if isinstance(component, PushState):
            return component.last_push() or (None, None)
    return None, None


def feeds_report(snapshot: StatsSnapshot) -> dict[str, dict[str, int | None]]:
    """Per feed, the events it delivered since start and when its last one came (None: none yet)."""
    report: dict[str, dict[str, int | None]] = {}
    for feed in FEEDS:
        events, last_at_ms = snapshot.feeds.get(feed, (0, None))
        report[feed] = {"events": events, "last_at_ms": last_at_ms}
    return report


def prometheus_text(ctx: AppContext) -> str:
    snapshot = ctx.stats.snapshot()
    lines = [
        "# HELP oct_events_received_total Events received by kind.",
        "# TYPE oct_events_received_total counter",
    ]
    lines += [f'oct_events_received_total{{kind="{k}"}} {v}' for k, v in sorted(snapshot.received.items())]
    lines += [
        "# HELP oct_events_written_total Events committed to SQLite by kind.",
        "# TYPE oct_events_written_total counter",
    ]
    lines += [f'oct_events_written_total{{kind="{k}"}} {v}' for k, v in sorted(snapshot.written.items())]
    lines += [
        "# HELP oct_events_dropped_total Events dropped by kind and reason.",
        "# TYPE oct_events_dropped_total counter",
    ]
    for reason, by_kind in sorted(snapshot.dropped.items()):
        lines += [f'oct_events_dropped_total{{kind="{k}",reason="{reason}"}} {v}' for k, v in sorted(by_kind.items())]
    gauges = {
        "oct_queue_depth": ("Events accepted and not yet committed.", ctx.queue.depth()),
        "oct_unsynced_rows": ("Stored rows not yet pushed.", snapshot.unsynced),
        "oct_db_size_bytes": ("Database file size.", file_size(ctx.config.db_path)),
        "oct_wal_size_bytes": ("WAL file size.", file_size(wal_path(ctx.config.db_path))),
        "oct_writer_consecutive_failures": ("Failed write attempts in a row.", snapshot.writer_failures),
    }
    for name, (help_text, value) in gauges.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
    return "\n".join(lines) + "\n"


async def get_health(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    report = health_report(ctx)
    await send_json(send, 200, report if may_read(ctx, scope) else without_details(report))


# Where the daemon's files are, where it pushes, and what its errors said: for those who
# may read its data (with OCT_READ_TOKEN when one is set), not for anyone who reaches /health.
DETAIL_KEYS = frozenset({"db_path", "path_setting", "file", "last_refused", "endpoint", "last_error", "error"})
HIDDEN = "hidden: send the read token (OCT_READ_TOKEN) to see it"


def without_details(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with the values of ``DETAIL_KEYS`` replaced by ``HIDDEN``, at any depth."""
    return {
        key: (
            HIDDEN
            if key in DETAIL_KEYS and value is not None
            else without_details(value)
            if isinstance(value, dict)
            else value
        )
        for key, value in report.items()
    }


async def get_metrics(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
    body = prometheus_text(ctx).encode()
    await send_bytes(send, 200, body, [(b"content-type", b"text/plain; version=0.0.4")])
