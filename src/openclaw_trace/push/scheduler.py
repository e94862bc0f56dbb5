"""``PushScheduler``: the push component; every ``interval_s`` one push cycle, and a final one at stop.

One thread, ``oct-push``. Each cycle (``cycle.PushCycle``: read, send,
mark) gets ``cycle_budget_s``; what it did is recorded by
``history.PushHistory`` (a ``push_log`` row, the last push ``/health``
shows). The scheduler decides whether a cycle runs at all:

- ``breaker_threshold`` failed cycles in a row open the circuit: cycles are
  skipped (and recorded as ``circuit_open``) for ``breaker_cooldown_s``, then
  one cycle is let through (half-open). The state shows in ``/health``.
- A ``Retry-After`` longer than the cycle had left holds the next cycles
  (recorded as ``waiting``) until it has passed.

Stop: ``stop(timeout_s)`` (the daemon calls it after the drain) sets the
stop Event, which cuts any backoff wait short and ends the running cycle at
its next request; the thread then runs one final cycle bounded by the
deadline and exits. A request still on the wire at half the deadline is
cut (its rows stay unsynced) so the final cycle gets the other half.
``stop`` is idempotent. ``run_cycle`` may also be called directly, without
``start`` (``openclaw-trace push --once``).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from openclaw_trace.config import Config
from openclaw_trace.config_types import endpoint_label, parse_headers
from openclaw_trace.lifecycle import named_target
from openclaw_trace.pipeline.writer import Writer
from openclaw_trace.push.batches import Encoder
from openclaw_trace.push.breaker import CircuitBreaker
from openclaw_trace.push.client import PushClient
from openclaw_trace.push.cycle import CycleReport, PushCycle, now_ms
from openclaw_trace.push.history import LastPush, PushHistory
from openclaw_trace.push.native import NativeEncoder
from openclaw_trace.push.otlp import OtlpEncoder
from openclaw_trace.stats import Stats

log = logging.getLogger("openclaw_trace.push")


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
        self._client = client
        self._encoder = encoder
        self._stats = stats
        self._endpoint = endpoint_label(endpoint) if endpoint else ""
        self._interval_s = interval_s
        # A cycle must end before the next is due; 10 s at least, so a short interval still allows retries.
        self._cycle_budget_s = cycle_budget_s if cycle_budget_s is not None else max(10.0, min(interval_s, 600.0))
        self._breaker = CircuitBreaker(
            breaker_threshold,
            breaker_cooldown_s if breaker_cooldown_s is not None else max(60.0, 4 * interval_s),
            clock,
        )
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._final_deadline: float | None = None
        self._final_started = threading.Event()
        self._cycle = PushCycle(
            db_path,
            writer,
            client,
            encoder,
            stats=stats,
            stop=self._stop,
            max_payload_bytes=max_payload_bytes,
            max_attempts=max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            defer_cycles=defer_cycles,
            rand=rand,
            clock=clock,
        )
        self._history = PushHistory(writer, endpoint=self._endpoint, format_name=encoder.name, stats=stats)

    @classmethod
    def from_config(cls, config: Config, writer: Writer, stats: Stats | None, **overrides: Any) -> PushScheduler:
        """The scheduler the settings describe (``push_endpoint`` must be set)."""
        client = PushClient(config.push_endpoint, token=config.push_token, headers=parse_headers(config.push_headers))
        encoder = make_encoder(config.push_format, socket.gethostname(), overrides.pop("agent_id", None))
        return cls(
            config.db_path,
            writer,
            client,
            encoder,
            stats=stats,
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
        last = self._history.last
        return {
            "endpoint": self._endpoint,
            "format": self._encoder.name,
            "alive": self._thread is not None and self._thread.is_alive(),
            "circuit": self._breaker.state,
            "degraded": self._breaker.state != "closed",
            "consecutive_failed_cycles": self._breaker.failed_cycles,
            "gzip": self._client.gzip_enabled,
            "rows_deferred": self._cycle.rows_deferred,
            "last_status": last.status if last else None,
            "last_error": last.error if last else None,
            "cycles": self._history.cycles,
            **self._cycle.totals,
        }

    def last_push(self) -> LastPush | None:
        """When the last cycle started and how it ended (``/health``'s ``last_push_*``); None before any. Any thread."""
        return self._history.last_push()

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
            self._history.cycle_raised(now_ms())

    # -- one cycle, or none ------------------------------------------------------

    def run_cycle(self, budget_s: float, final: bool = False) -> CycleReport:
        """Push what is unsynced now, within ``budget_s``; record and return the report. Blocks.

        ``final``: waits are not cut by the stop Event and the circuit breaker
        and a pending Retry-After are not consulted (a shutdown or manual
        push is one bounded attempt).
        """
        if not final and self._breaker.state == "open":
            report = CycleReport(started_at_ms=now_ms(), status="circuit_open")
        elif not final and self._clock() < self._cycle.not_before:
            report = CycleReport(started_at_ms=now_ms(), status="waiting", error="receiver asked to wait (Retry-After)")
        else:
            report = self._cycle.run(budget_s, final=final)
            self._breaker.record(report.status)
        self._history.record(report)
        return report
