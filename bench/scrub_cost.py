"""What OCT_SCRUB_SECRETS costs the writer: ``python -m bench.scrub_cost``.

Times ``scrub.scrub_row`` on the row of a ~1 KB trace event as the writer
builds it (``model.trace_envelope``), without a secret (nearly every row)
and with two, and on 1 MB texts built to make a regex backtrack: each rule's
marker repeated, so that every position is a candidate. Those must take
linear time, about what a clean megabyte takes; a quadratic rule would take
minutes there and stall the single writer. Prints a Markdown table.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from bench import payloads
from openclaw_trace.model import EventLimits, TraceIn, trace_envelope
from openclaw_trace.scrub import scrub_row, scrub_text

ROW_RUNS = 20_000
HOSTILE_BYTES = 1_000_000
HOSTILE = {
    "clean prose": "agent tool call session context retry ",
    "sk- repeated": "sk-",
    "BEGIN PRIVATE KEY, no END": "-----BEGIN PRIVATE KEY-----\n",
    "-eyJ repeated": "-eyJ",
    ".eyJ segments": ".eyJAAAAAAAAAA",
    "bearer, short tokens": "bearer abc ",
    "digits then :AA": "1234567890:AA",
    "AKIA repeated": "AKIA",
}


def per_call_us(call: Callable[[], object], runs: int) -> float:
    """Median of five timings of ``runs`` calls, in µs per call."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(runs):
            call()
        timings.append((time.perf_counter() - started) / runs * 1e6)
    return statistics.median(timings)


def trace_row(secret: str = "") -> tuple[object, ...]:
    event = payloads.trace_event(random.Random(3))
    if secret:
        event["input_text"] = f"{event['input_text']} OPENAI_API_KEY={secret}"
        event["metadata"] = {"authorization": f"Bearer {secret}"}
    return trace_envelope(TraceIn(**event), 0, EventLimits()).values


def main() -> None:
    key = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t"
    clean, dirty = trace_row(), trace_row(key)
    print("| what | cost |")
    print("|---|---|")
    clean_us = per_call_us(lambda: scrub_row(clean), ROW_RUNS)
    dirty_us = per_call_us(lambda: scrub_row(dirty), ROW_RUNS)
    print(f"| a ~1 KB trace row, no secret (nearly every row) | {clean_us:.1f} µs |")
    print(f"| the same row with a key and a bearer token | {dirty_us:.1f} µs |")
    for name, unit in HOSTILE.items():
        text = unit * (HOSTILE_BYTES // len(unit))
        started = time.perf_counter()
        scrub_text(text)
        print(f"| 1 MB of {name} | {time.perf_counter() - started:.3f} s |")


if __name__ == "__main__":
    main()
