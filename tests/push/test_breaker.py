"""The circuit breaker as a pure policy, with a fake clock."""

from __future__ import annotations

from openclaw_trace.push.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_half_opens_after_the_cooldown_and_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=clock)
    breaker.record("failed")
    assert breaker.state == "closed"
    breaker.record("failed")
    assert breaker.state == "open"
    clock.now = 9.9
    assert breaker.state == "open"
    clock.now = 10.0
    assert breaker.state == "half_open"
    breaker.record("failed")  # the trial cycle failed: open again for a full cooldown
    assert breaker.state == "open"
    clock.now = 20.0
    breaker.record("ok")
    assert (breaker.state, breaker.failed_cycles) == ("closed", 0)


def test_interrupted_cycles_count_neither_way() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown_s=10, clock=Clock())
    breaker.record("failed")
    breaker.record("interrupted")
    assert breaker.failed_cycles == 1
    breaker.record("failed")
    assert breaker.state == "open"
