"""A paced HTTP sender for the reliability runs, counting what every answer says.

The reliability cases are about accounting, not speed, so Python's own
``http.client`` over keep-alive connections is enough: each ``Sender`` is one
thread with one connection, posting one body on an open-loop schedule, and
adding up the daemon's 202 bodies (``received``/``queued``/``dropped``). A
request that got no answer (the daemon stopping or killed) is counted as
such, never as accepted. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"
RECONNECT_PAUSE_S = 0.05
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Tally:
    """What one sender (or all of them, summed) sent and was told."""

    requests: int = 0
    answered: int = 0  # an HTTP answer came back, whatever its status
    unanswered: int = 0  # the connection failed before an answer: nothing is known of these events
    statuses: Counter[int] = field(default_factory=Counter)
    received: int = 0  # from the 202 bodies: events the daemon took in
    queued: int = 0  # events it queued: each must end up stored
    dropped: int = 0  # events it counted as dropped at the door
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.answered += other.answered
        self.unanswered += other.unanswered
        self.statuses.update(other.statuses)
        self.received += other.received
        self.queued += other.queued
        self.dropped += other.dropped
        self.latencies_ms.extend(other.latencies_ms)

    def p99_ms(self) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Sender(threading.Thread):
    """Posts ``body`` to ``path`` at ``rate`` requests/s until stopped (or ``limit`` requests)."""

    def __init__(self, port: int, path: str, body: bytes, rate: float, limit: int | None = None) -> None:
        super().__init__(name=f"sender-{path}", daemon=True)
        self._port = port
        self._path = path
        self._body = body
        self._interval_s = 1.0 / rate
        self._limit = limit
        self._halt = threading.Event()
        self.tally = Tally()

    def halt(self) -> None:
        self._halt.set()

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        next_at = time.monotonic()
        headers = {"Content-Type": "application/json"}
        while not self._halt.is_set() and (self._limit is None or self.tally.requests < self._limit):
            wait_s = next_at - time.monotonic()
            if wait_s > 0 and self._halt.wait(wait_s):
                break
            next_at += self._interval_s
            if conn is None:
                conn = http.client.HTTPConnection(HOST, self._port, timeout=REQUEST_TIMEOUT_S)
            self.tally.requests += 1
            started = time.perf_counter()
            try:
                conn.request("POST", self._path, self._body, headers)
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                self.tally.unanswered += 1
                conn.close()
                conn = None
                self._halt.wait(RECONNECT_PAUSE_S)
                continue
            self.tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            self._count(response.status, answer)
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _count(self, status: int, answer: bytes) -> None:
        self.tally.answered += 1
        self.tally.statuses[status] += 1
        if status != 202:
            return
        counts = json.loads(answer)
        self.tally.received += counts["received"]
        self.tally.queued += counts["queued"]
        self.tally.dropped += counts["dropped"]


def start_senders(port: int, plan: Sequence[tuple[str, bytes, float]], limit: int | None = None) -> list[Sender]:
    """One started ``Sender`` per (path, body, requests/s) of ``plan``."""
    senders = [Sender(port, path, body, rate, limit) for path, body, rate in plan]
    for sender in senders:
        sender.start()
    return senders


def stop_senders(senders: Sequence[Sender]) -> Tally:
    """Halt and join every sender; their tallies summed."""
    for sender in senders:
        sender.halt()
    total = Tally()
    for sender in senders:
        sender.join(REQUEST_TIMEOUT_S + 5)
        total.add(sender.tally)
    return total
