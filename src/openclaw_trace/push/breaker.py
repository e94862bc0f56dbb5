"""The push circuit breaker: stop hammering a receiver that keeps failing.

Pure policy with the clock passed in. ``threshold`` failed cycles in a row
open the circuit for ``cooldown_s``; then it is half open: one cycle is let
through, and its success closes the circuit while its failure opens it
again. Cycles that were interrupted (a stop) count neither way. Used from
the push thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

log = logging.getLogger("openclaw_trace.push")

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.failed_cycles = 0
        self._open_until: float | None = None

    @property
    def state(self) -> State:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half_open"

    def record(self, status: str) -> None:
        """Feed a finished cycle's status (``failed``, ``interrupted``, or any success)."""
        if status == "failed":
            self.failed_cycles += 1
            if self.failed_cycles >= self.threshold:
                if self.state != "open":
                    log.warning(
                        "push circuit open after %d failed cycles; next try in %.0fs",
                        self.failed_cycles,
                        self.cooldown_s,
                    )
                self._open_until = self._clock() + self.cooldown_s
        elif status != "interrupted":
            if self._open_until is not None:
                log.info("push circuit closed")
            self.failed_cycles = 0
            self._open_until = None
