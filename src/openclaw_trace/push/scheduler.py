"""``PushScheduler``: every ``interval_s``, push unsynced rows upstream and mark what was acknowledged.

One thread, ``oct-push``. A cycle reads unsynced rows of every data table
(read-only connection, id order, only rows present when it starts), splits
them into requests no larger than ``max_payload_bytes``, sends each with
retries, and marks exactly the rows of each 2xx-acknowledged request
``synced = 1, pushed_at = now`` through ``writer.call`` (the single writer).

What happens on failure, per request:
- retryable (5xx, 408, 429, connection refused/reset/timeout): full-jitter
  exponential backoff, at least ``Retry-After``, at most ``max_attempts``
  tries (2 in a final or manual push) and never past the cycle's deadline; then the cycle ends and its
  rows stay unsynced for the next cycle. A ``Retry-After`` longer than the
  cycle left also delays the next cycle.
- ``413`` for a request of several rows: cut in two, each half sent on its
  own (the receiver's limit is below ours).
- other 4xx (permanent): the rows stay unsynced — never marked pushed — and
  are skipped for ``defer_cycles`` cycles (in memory: a restart retries them
  at once), then offered again. Logged and counted (``push.rows_rejected``).
- ``breaker_threshold`` failed cycles in a row open the circuit: cycles are
  skipped (and recorded as ``circuit_open``) for ``breaker_cooldown_s``, then
  one cycle is let through (half-open). The state shows in ``/health``.

Every cycle is one ``push_log`` row; ``ctx.last_push_time_ms`` and
``ctx.last_push_status`` are set after each one.

Stop: ``stop(timeout_s)`` (the daemon calls it after the drain) sets the
stop Event, which cuts any backoff wait short and ends the running cycle at
its next request; the thread then runs one final cycle bounded by the
deadline and exits. A request still on the wire at half the deadline is
cut (its rows stay unsynced) so the final cycle gets the other half. ``stop`` is idempotent. ``run_cycle`` may also be
called directly, without ``start`` (``openclaw-trace push --once``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from openclaw_trace.config import Config
from openclaw_trace.config_types import endpoint_label, parse_headers
from openclaw_trace.lifecycle import named_target
from openclaw_trace.pipeline.writer import Writer
from openclaw_trace.push.batches import Encoder, Request, Sized, halves, iter_unsynced, split
from openclaw_trace.push.breaker import CircuitBreaker
from openclaw_trace.push.client import Outcome, PushClient, SendResult, retry_wait_s
from openclaw_trace.push.cycle import CycleReport
from openclaw_trace.push.ledger import Ledger, LedgerWindow
from openclaw_trace.push.native import NativeEncoder
from openclaw_trace.push.otlp import OtlpEncoder
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_read_connection

if TYPE_CHECKING:  # only the two fields it sets; push does not depend on the HTTP layer
    from openclaw_trace.api.context import AppContext

log = logging.getLogger("openclaw_trace.push")

MIN_ITEM_BUDGET_BYTES = 256


def make_encoder(push_format: str, host: str, agent_id: str | None = None) -> Encoder:
    return OtlpEncoder(host, agent_id) if push_format == "otlp" else NativeEncoder(host, agent_id)


class PushScheduler:
    """The push component (``lifecycle.Component``): thread ``oct-push``, stops after the drain."""

    name = "push"
    stop_after_drain = True

    def __init__(
        self,
        db_path: str,
        writer: Writer,
        client: PushClient,
        encoder: Encoder,
        *,
        stats: Stats | None = None,
        ctx: AppContext | None = None,
        endpoint: str = "",
        interval_s: float = 300.0,
        max_payload_bytes: int = 5_000_000,
        max_attempts: int = 5,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        cycle_budget_s: float | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float | None = None,
        defer_cycles: int = 12,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db_path = db_path
        self._writer = writer
        self._client = client
        self._encoder = encoder
        self._stats = stats
        self._ctx = ctx
        self._endpoint = endpoint_label(endpoint) if endpoint else ""
        self._interval_s = interval_s
        self._max_payload_bytes = max_payload_bytes
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        # A cycle must end before the next is due; 10 s at least, so a short interval still allows retries.
        self._cycle_budget_s = cycle_budget_s if cycle_budget_s is not None else max(10.0, min(interval_s, 600.0))
        self._breaker = CircuitBreaker(
            breaker_threshold,
            breaker_cooldown_s if breaker_cooldown_s is not None else max(60.0, 4 * interval_s),
            clock,
        )
        self._defer_cycles = defer_cycles
        self._rand = rand
        self._clock = clock
        self._stop = threading.Event()
        self._never = threading.Event()  # the final cycle's waits: bounded by its deadline only
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._final_deadline: float | None = None
        self._final_started = threading.Event()
        # State of the push thread (or of the run_cycle caller); health() only reads it.
        self._cycle_no = 0
        self._deferred: dict[tuple[str, int], int] = {}  # (table, id) → first cycle it may go again
        self._not_before = 0.0  # a Retry-After that outlived its cycle
        self._last: CycleReport | None = None
        self._totals = {"cycles": 0, "rows_pushed": 0, "rows_rejected": 0, "bytes_sent": 0}
        self._ledger_window = LedgerWindow(since_ms=_now_ms())

    @classmethod
    def from_config(
        cls, config: Config, writer: Writer, stats: Stats | None, ctx: AppContext | None = None, **overrides: Any
    ) -> PushScheduler:
        """The scheduler the settings describe (``push_endpoint`` must be set)."""
        client = PushClient(config.push_endpoint, token=config.push_token, headers=parse_headers(config.push_headers))
        encoder = make_encoder(config.push_format, socket.gethostname(), overrides.pop("agent_id", None))
        return cls(
            config.db_path,
            writer,
            client,
            encoder,
            stats=stats,
            ctx=ctx,
            endpoint=config.push_endpoint,
            interval_s=config.push_interval,
            max_payload_bytes=config.push_max_payload_bytes,
            **overrides,
        )

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=named_target(self._run, "oct-push"), name="oct-push", daemon=True)
            self._thread.start()
        log.info("push on", extra={"fields": {"endpoint": self._endpoint, "format": self._encoder.name}})

    def stop(self, timeout_s: float) -> bool:
        """Stop waiting, run the final push within ``timeout_s``, end the thread. Idempotent."""
        with self._lock:
            thread = self._thread
            if self._final_deadline is None:
                self._final_deadline = self._clock() + max(0.0, timeout_s - 0.2)
            self._stop.set()
        if thread is None:
            return True
        end = self._clock() + timeout_s
        # Half the time for a regular cycle's request on the wire to finish; then it is cut
        # (its rows stay unsynced) so that the final push gets the other half.
        thread.join(max(0.0, timeout_s / 2 - 0.2))
        if thread.is_alive() and not self._final_started.is_set():
            self._client.abort(for_good=False)
        thread.join(max(0.0, end - self._clock() - 0.3))
        if thread.is_alive():
            # Out of time: cut whatever is on the wire now and refuse further sends.
            self._client.abort()
            thread.join(0.3)
        return not thread.is_alive()

    def health(self) -> dict[str, Any]:
        last = self._last
        return {
            "endpoint": self._endpoint,
            "format": self._encoder.name,
            "alive": self._thread is not None and self._thread.is_alive(),
            "circuit": self._breaker.state,
            "degraded": self._breaker.state != "closed",
            "consecutive_failed_cycles": self._breaker.failed_cycles,
            "gzip": self._client.gzip_enabled,
            "rows_deferred": len(self._deferred),
            "last_status": last.status if last else None,
            "last_error": last.error if last else None,
            **self._totals,
        }

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._guarded_cycle(self._cycle_budget_s, final=False)
        deadline = self._final_deadline if self._final_deadline is not None else self._clock()
        budget = deadline - self._clock()
        self._final_started.set()
        if budget > 0.05:
            log.info("final push", extra={"fields": {"budget_s": round(budget, 3)}})
            self._guarded_cycle(budget, final=True)

    def _guarded_cycle(self, budget_s: float, final: bool) -> None:
        try:
            self.run_cycle(budget_s, final=final)
        except Exception:
            # The loop's one edge: a bug in a cycle must not end pushing for good.
            log.exception("push cycle failed")
            if self._stats is not None:
                self._stats.count("push.cycle_errors")
            if self._ctx is not None:
                self._ctx.last_push_time_ms = _now_ms()
                self._ctx.last_push_status = "error"

    # -- one cycle -------------------------------------------------------------

    def run_cycle(self, budget_s: float, final: bool = False) -> CycleReport:
        """Push what is unsynced now, within ``budget_s``; record and return the report. Blocks.

        ``final``: waits are not cut by the stop Event and the circuit breaker
        and a pending Retry-After are not consulted (a shutdown or manual
        push is one bounded attempt).
        """
        started = self._clock()
        deadline = started + budget_s
        report = CycleReport(started_at_ms=_now_ms())
        if not final and self._breaker.state == "open":
            report.status = "circuit_open"
        elif not final and started < self._not_before:
            report.status = "waiting"
            report.error = "receiver asked to wait (Retry-After)"
        else:
            self._cycle_no += 1
            self._deferred = {key: until for key, until in self._deferred.items() if until > self._cycle_no}
            self._push_tables(report, deadline, self._never if final else self._stop, final)
            if not report.failed and not report.interrupted and not report.ledger_sent and self._stats is not None:
                self._send_ledger(report, deadline, self._never if final else self._stop)
            report.status = report.final_status()
            self._breaker.record(report.status)
        report.duration_ms = int((self._clock() - started) * 1000)
        self._finish(report)
        return report

    def _push_tables(self, report: CycleReport, deadline: float, waiter: threading.Event, final: bool) -> None:
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
                    if not self._deliver(table, batch, report, deadline, waiter):
                        return
        finally:
            conn.close()

    def _deliver(
        self, table: str, items: Sequence[Sized[Any]], report: CycleReport, deadline: float, waiter: threading.Event
    ) -> bool:
        """Send one batch (with retries) and mark it if acknowledged; False ends the cycle."""
        ledger = self._ledger() if self._encoder.carries_ledger else None
        request = self._encoder.request(table, items, ledger)
        result = self._send(request, report, deadline, waiter)
        if result.outcome is Outcome.ACKED:
            self._ledger_acked(ledger, report)
            return self._mark(table, [(item.row_id, item.trace_id) for item in items], report)
        if result.outcome is Outcome.PERMANENT:
            if result.status == 413 and len(items) > 1:
                first, second = halves(items)
                return self._deliver(table, first, report, deadline, waiter) and self._deliver(
                    table, second, report, deadline, waiter
                )
            for item in items:
                self._deferred[(table, item.row_id)] = self._cycle_no + self._defer_cycles
            report.rejected += len(items)
            report.note_error(result.error)
            self._count("push.rows_rejected", len(items))
            self._totals["rows_rejected"] += len(items)
            log.warning(
                "receiver refused a batch; its rows stay unsynced and are skipped for %d cycles",
                self._defer_cycles,
                extra={"fields": {"table": table, "rows": len(items), "status": result.status, "error": result.error}},
            )
            return True
        report.failed = True
        report.note_error(result.error)
        return False

    def _send(self, request: Request, report: CycleReport, deadline: float, waiter: threading.Event) -> SendResult:
        attempt = 0
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return SendResult(Outcome.RETRYABLE, None, error="cycle deadline passed")
            result = self._client.send(request.path, request.body, request.content_type, timeout_s=remaining)
            report.bytes += result.sent_bytes
            self._totals["bytes_sent"] += result.sent_bytes
            report.http_status = result.status if result.status is not None else report.http_status
            if result.outcome is not Outcome.RETRYABLE:
                return result
            attempt += 1
            self._count("push.send_failures")
            if attempt >= (self._max_attempts if waiter is self._stop else min(2, self._max_attempts)):
                return result
            wait_s = retry_wait_s(result, attempt - 1, self._backoff_base_s, self._backoff_cap_s, self._rand)
            if self._clock() + wait_s > deadline:
                if result.retry_after_s is not None:
                    self._not_before = self._clock() + result.retry_after_s
                return result
            if waiter.wait(wait_s):
                return result  # stopping: the final push takes over

    def _mark(self, table: str, sent: list[tuple[int, str]], report: CycleReport) -> bool:
        pushed_at = _now_ms()
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
        self._totals["rows_pushed"] += marked
        if self._stats is not None:
            self._stats.add_unsynced(-marked)
        self._count("push.rows_pushed", marked)
        return True

    # -- the loss ledger -----------------------------------------------------

    def _ledger(self) -> Ledger | None:
        if self._stats is None:
            return None
        return self._ledger_window.ledger(self._stats.snapshot(), _now_ms())

    def _ledger_acked(self, ledger: Ledger | None, report: CycleReport) -> None:
        if ledger is None or self._stats is None:
            return
        self._ledger_window.acknowledged(ledger)
        report.ledger_sent = True

    def _send_ledger(self, report: CycleReport, deadline: float, waiter: threading.Event) -> None:
        ledger = self._ledger()
        if ledger is None:
            return
        request = self._encoder.ledger_request(ledger)
        if request is None:
            return
        result = self._send(request, report, deadline, waiter)
        if result.outcome is Outcome.ACKED:
            self._ledger_acked(ledger, report)
            report.batches += 1
        elif result.outcome is Outcome.RETRYABLE:
            report.failed = True
            report.note_error(result.error)
        else:
            report.note_error(result.error)

    # -- bookkeeping -----------------------------------------------------------

    def _finish(self, report: CycleReport) -> None:
        self._last = report
        self._totals["cycles"] += 1
        if self._ctx is not None:
            self._ctx.last_push_time_ms = report.started_at_ms
            self._ctx.last_push_status = report.status
        fields = dataclasses.asdict(report)
        level = logging.INFO if report.status in ("ok", "circuit_open", "waiting") else logging.WARNING
        if report.status == "ok" and report.events == 0:
            level = logging.DEBUG
        log.log(level, "push cycle %s", report.status, extra={"fields": fields})
        row = (
            report.started_at_ms,
            report.duration_ms,
            report.status,
            self._endpoint,
            self._encoder.name,
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
            self._count("push.log_failures")

    def _count(self, name: str, amount: int = 1) -> None:
        if self._stats is not None:
            self._stats.count(name, amount)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
