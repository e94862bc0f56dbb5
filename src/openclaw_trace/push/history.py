"""What pushing has done: each cycle's ``push_log`` row and log line, and the last push ``/health`` shows.

Every finished cycle, skipped ones included (``circuit_open``,
``waiting``), is one ``push_log`` row written through the single writer;
a row that cannot be written is logged and counted
(``push.log_failures``), never raised. A cycle that ended in an exception
(a bug) leaves no row: ``/health`` shows ``last_push_status = "error"``
and the exception is logged where it was caught.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import NamedTuple

from openclaw_trace.pipeline.writer import Writer
from openclaw_trace.push.cycle import CycleReport
from openclaw_trace.stats import Stats
from openclaw_trace.storage import writes

log = logging.getLogger("openclaw_trace.push")

# Cycles that went as they should are said at info; the others at warning.
QUIET_STATUSES = frozenset({"ok", "circuit_open", "waiting"})


class LastPush(NamedTuple):
    """``/health``'s ``last_push_time`` and ``last_push_status``: when the last cycle started, how it ended."""

    time_ms: int
    status: str


class PushHistory:
    """Records finished cycles for one endpoint and format.

    ``record`` and ``cycle_raised`` are called by the thread that runs the
    cycles; ``last``, ``last_push`` and ``cycles`` may be read from any
    thread (each is one reference, replaced whole).
    """

    def __init__(self, writer: Writer, *, endpoint: str, format_name: str, stats: Stats | None = None) -> None:
        self._writer = writer
        self._endpoint = endpoint  # as it may be shown: config_types.endpoint_label
        self._format_name = format_name
        self._stats = stats
        self.last: CycleReport | None = None
        self.cycles = 0
        self._last_push: LastPush | None = None

    def last_push(self) -> LastPush | None:
        """The last cycle's start and status; None before the first."""
        return self._last_push

    def record(self, report: CycleReport) -> None:
        """Remember ``report``, log it and write its ``push_log`` row. Blocks on the writer."""
        self.last = report
        self.cycles += 1
        self._last_push = LastPush(report.started_at_ms, report.status)
        fields = dataclasses.asdict(report)
        level = logging.INFO if report.status in QUIET_STATUSES else logging.WARNING
        if report.status == "ok" and report.events == 0:
            level = logging.DEBUG
        log.log(level, "push cycle %s", report.status, extra={"fields": fields})
        row = (
            report.started_at_ms,
            report.duration_ms,
            report.status,
            self._endpoint,
            self._format_name,
            report.events,
            report.batches,
            report.bytes,
            report.http_status,
            report.error,
        )
        try:
            self._writer.call(functools.partial(writes.record_push_cycle, row=row))
        except Exception as exc:
            log.warning("could not record the push cycle: %s", exc)
            if self._stats is not None:
                self._stats.count("push.log_failures")

    def cycle_raised(self, at_ms: int) -> None:
        """A cycle ended in an exception at ``at_ms``: the last push is an ``error`` (no ``push_log`` row)."""
        self._last_push = LastPush(at_ms, "error")
