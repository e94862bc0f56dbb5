"""One push cycle: the unsynced rows upstream, in requests no larger than the payload budget; acknowledged rows marked.

A cycle reads the unsynced rows of every data table (read-only connection,
id order, only rows present when it starts: ``batches``), encodes and
splits them into requests no larger than ``max_payload_bytes``, sends each
with retries, and marks exactly the rows of each 2xx-acknowledged request
``synced = 1, pushed_at = now`` through ``writer.call`` (the single writer).
A cycle whose requests carried no acknowledged ledger ends with one that
carries only the ledger (a quiet cycle; OTLP's once-per-cycle record).

What happens on failure, per request:
- retryable (5xx, 408, 429, connection refused/reset/timeout): full-jitter
  exponential backoff, at least ``Retry-After``, at most ``max_attempts``
  tries (2 in a final or manual push) and never past the cycle's deadline;
  then the cycle ends and its rows stay unsynced for the next cycle. A
  ``Retry-After`` longer than the cycle has left sets ``not_before``, which
  the scheduler holds the next cycle to.
- ``413`` for a request of several rows: cut in two, each half sent on its
  own (the receiver's limit is below ours).
- other 4xx (permanent): the rows stay unsynced — never marked pushed — and
  are skipped for ``defer_cycles`` cycles (in memory: a restart retries them
  at once), then offered again. Logged and counted (``push.rows_rejected``).

``CycleReport`` is what one cycle did, and becomes its ``push_log`` row
(``history``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from openclaw_trace.pipeline.writer import Writer
from openclaw_trace.push.batches import Encoder, Request, Sized, halves, iter_unsynced, split
from openclaw_trace.push.client import Outcome, PushClient, SendResult, retry_wait_s
from openclaw_trace.push.ledger import Ledger, LedgerWindow
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_read_connection

log = logging.getLogger("openclaw_trace.push")

MAX_ERROR_CHARS = 500
MIN_ITEM_BUDGET_BYTES = 256


def now_ms() -> int:
    """The wall clock in milliseconds: what ``push_log.started_at`` and ``pushed_at`` hold."""
    return time.time_ns() // 1_000_000


@dataclasses.dataclass
class CycleReport:
    """What one cycle did; one ``push_log`` row."""

    started_at_ms: int
    status: str = "ok"  # ok | partial | rejected | failed | circuit_open | waiting | error
    events: int = 0  # rows acknowledged and marked
    batches: int = 0  # requests acknowledged
    bytes: int = 0  # bytes put on the wire, acknowledged or not
    http_status: int | None = None
    error: str | None = None
    duration_ms: int = 0
    rejected: int = 0  # rows refused for good this cycle
    failed: bool = False  # a retryable failure ended the cycle
    interrupted: bool = False
    ledger_sent: bool = False

    def note_error(self, error: str | None) -> None:
        if error and self.error is None:
            self.error = error[:MAX_ERROR_CHARS]

    def final_status(self) -> str:
        """The cycle's ``status`` once it ended: what was acknowledged, refused or cut."""
        if self.interrupted and not self.failed:
            return "interrupted"
        if self.failed:
            return "partial" if self.events else "failed"
        if self.rejected:
            return "partial" if self.events else "rejected"
        return "ok"


class PushCycle:
    """Runs push cycles, one at a time, and keeps what carries from one to the next.

    Carried over: the rows deferred after a permanent refusal, the loss
    ledger's open window, a ``Retry-After`` that outlived its cycle
    (``not_before``) and the running ``totals``. One thread runs cycles (the
    push thread, or the ``push --once`` caller); any thread may read
    ``totals``, ``rows_deferred`` and ``not_before``. Setting ``stop`` ends a
    regular cycle at its next request and cuts its backoff waits short.
    """

    def __init__(
        self,
        db_path: str,
        writer: Writer,
        client: PushClient,
        encoder: Encoder,
        *,
        max_payload_bytes: int,
        max_attempts: int,
        backoff_base_s: float,
        backoff_cap_s: float,
        defer_cycles: int,
        stats: Stats | None = None,
        stop: threading.Event | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db_path = db_path
        self._writer = writer
        self._client = client
        self._encoder = encoder
        self._stats = stats
        self._stop = stop if stop is not None else threading.Event()
        self._never = threading.Event()  # the final cycle's waits: bounded by its deadline only
        self._max_payload_bytes = max_payload_bytes
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._defer_cycles = defer_cycles
        self._rand = rand
        self._clock = clock
        self._cycle_no = 0
        self._deferred: dict[tuple[str, int], int] = {}  # (table, id) → first cycle it may go again
        self._ledger_window = LedgerWindow(since_ms=now_ms())
        self.not_before = 0.0  # clock() time before which the receiver asked not to be sent to
        self.totals = {"rows_pushed": 0, "rows_rejected": 0, "bytes_sent": 0}

    @property
    def rows_deferred(self) -> int:
        """Rows the receiver refused for good, skipped for now."""
        return len(self._deferred)

    def run(self, budget_s: float, *, final: bool = False) -> CycleReport:
        """Push what is unsynced now, within ``budget_s``; what the cycle did, its status set. Blocks.

        ``final`` (a shutdown or manual push, one bounded attempt): waits are
        not cut by ``stop``, a set ``stop`` does not end the cycle, and a
        request gets at most 2 tries.
        """
        started = self._clock()
        deadline = started + budget_s
        report = CycleReport(started_at_ms=now_ms())
        self._cycle_no += 1
        self._deferred = {key: until for key, until in self._deferred.items() if until > self._cycle_no}
        self._push_tables(report, deadline, final)
        if not report.failed and not report.interrupted and not report.ledger_sent and self._stats is not None:
            self._send_ledger(report, deadline, final)
        report.status = report.final_status()
        report.duration_ms = int((self._clock() - started) * 1000)
        return report

    def _push_tables(self, report: CycleReport, deadline: float, final: bool) -> None:
        ledger_reserve = self._encoder.overhead_bytes(self._ledger() if self._encoder.carries_ledger else None)
        budget = max(MIN_ITEM_BUDGET_BYTES, self._max_payload_bytes - ledger_reserve)
        conn = open_read_connection(self._db_path)
        try:
            for table in schema.DATA_TABLES:
                deferred = {row_id for (t, row_id) in self._deferred if t == table}
                rows = iter_unsynced(conn, table, skip=deferred.__contains__)
                items = (self._encoder.item(row, budget) for row in rows)
                for batch in split(items, budget):
                    if not final and self._stop.is_set():
                        report.interrupted = True
                        report.note_error("stopped; the final push takes over")
                        return
                    if not self._deliver(table, batch, report, deadline, final):
                        return
        finally:
            conn.close()

    def _deliver(
        self, table: str, items: Sequence[Sized[Any]], report: CycleReport, deadline: float, final: bool
    ) -> bool:
        """Send one batch (with retries) and mark it if acknowledged; False ends the cycle."""
        ledger = self._ledger() if self._encoder.carries_ledger else None
        request = self._encoder.request(table, items, ledger)
        result = self._send(request, report, deadline, final)
        if result.outcome is Outcome.ACKED:
            self._ledger_acked(ledger, report)
            return self._mark(table, [(item.row_id, item.trace_id) for item in items], report)
        if result.outcome is Outcome.PERMANENT:
            if result.status == 413 and len(items) > 1:
                first, second = halves(items)
                return self._deliver(table, first, report, deadline, final) and self._deliver(
                    table, second, report, deadline, final
                )
            for item in items:
                self._deferred[(table, item.row_id)] = self._cycle_no + self._defer_cycles
            report.rejected += len(items)
            report.note_error(result.error)
            self._count("push.rows_rejected", len(items))
            self.totals["rows_rejected"] += len(items)
            log.warning(
                "receiver refused a batch; its rows stay unsynced and are skipped for %d cycles",
                self._defer_cycles,
                extra={"fields": {"table": table, "rows": len(items), "status": result.status, "error": result.error}},
            )
            return True
        report.failed = True
        report.note_error(result.error)
        return False

    def _send(self, request: Request, report: CycleReport, deadline: float, final: bool) -> SendResult:
        waiter = self._never if final else self._stop
        max_attempts = min(2, self._max_attempts) if final else self._max_attempts
        attempt = 0
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return SendResult(Outcome.RETRYABLE, None, error="cycle deadline passed")
            result = self._client.send(request.path, request.body, request.content_type, timeout_s=remaining)
            report.bytes += result.sent_bytes
            self.totals["bytes_sent"] += result.sent_bytes
            report.http_status = result.status if result.status is not None else report.http_status
            if result.outcome is not Outcome.RETRYABLE:
                return result
            attempt += 1
            self._count("push.send_failures")
            if attempt >= max_attempts:
                return result
            wait_s = retry_wait_s(result, attempt - 1, self._backoff_base_s, self._backoff_cap_s, self._rand)
            if self._clock() + wait_s > deadline:
                if result.retry_after_s is not None:
                    self.not_before = self._clock() + result.retry_after_s
                return result
            if waiter.wait(wait_s):
                return result  # stopping: the final push takes over

    def _mark(self, table: str, sent: list[tuple[int, str]], report: CycleReport) -> bool:
        pushed_at = now_ms()
        row_ids = [row_id for row_id, _ in sent]
        id_list = json.dumps(row_ids)
        trace_id_list = json.dumps([trace_id for _, trace_id in sent])

        try:
            mark = functools.partial(
                writes.mark_pushed, table=table, pushed_at_ms=pushed_at, id_list=id_list, trace_id_list=trace_id_list
            )
            marked = self._writer.call(mark)
        except Exception as exc:
            # Acknowledged but not marked: they go again next time (the receiver de-duplicates by trace_id).
            log.warning("could not mark pushed rows: %s", exc, extra={"fields": {"table": table, "rows": len(row_ids)}})
            self._count("push.mark_failures")
            report.failed = True
            report.note_error(f"marking pushed rows failed: {type(exc).__name__}")
            return False
        report.events += len(row_ids)
        report.batches += 1
        self.totals["rows_pushed"] += marked
        if self._stats is not None:
            self._stats.add_unsynced(-marked)
        self._count("push.rows_pushed", marked)
        return True

    # -- the loss ledger: carried by every request (JSON) or sent once a cycle (OTLP) ----------

    def _ledger(self) -> Ledger | None:
        if self._stats is None:
            return None
        return self._ledger_window.ledger(self._stats.snapshot(), now_ms())

    def _ledger_acked(self, ledger: Ledger | None, report: CycleReport) -> None:
        if ledger is None or self._stats is None:
            return
        self._ledger_window.acknowledged(ledger)
        report.ledger_sent = True

    def _send_ledger(self, report: CycleReport, deadline: float, final: bool) -> None:
        ledger = self._ledger()
        if ledger is None:
            return
        request = self._encoder.ledger_request(ledger)
        if request is None:
            return
        result = self._send(request, report, deadline, final)
        if result.outcome is Outcome.ACKED:
            self._ledger_acked(ledger, report)
            report.batches += 1
        elif result.outcome is Outcome.RETRYABLE:
            report.failed = True
            report.note_error(result.error)
        else:
            report.note_error(result.error)

    def _count(self, name: str, amount: int = 1) -> None:
        if self._stats is not None:
            self._stats.count(name, amount)
