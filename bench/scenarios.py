"""The scenarios, their targets, and the figures each run produces."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping
from typing import Any, Literal

MB = 1024 * 1024


@dataclasses.dataclass
class Outcome:
    """The figures of one scenario run; None where a figure does not apply."""

    name: str
    server: str
    pinned: bool
    duration_s: float
    offered_req_s: float | None = None
    offered_events_s: float | None = None
    accepted_events_s: float | None = None  # 202 answers × events per request
    persisted_events_s: float | None = None  # events_written delta from /health over the run
    dropped_by_reason: dict[str, int] = dataclasses.field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    rss_peak_mb: float | None = None
    cpu_percent: float | None = None  # of one core, over the run
    accepted_req_s: float | None = None
    # Wake-ups of a real-time sleeper more than 3 ms late over the load window: the machine's own stalls.
    host_pauses: int | None = None
    host_pause_max_ms: float | None = None
    host_probe_realtime: bool | None = None
    received: int | None = None  # final totals from the "openclaw-trace stopped" log line
    written: int | None = None
    rows_added: int | None = None
    accounting: str = "n/a"  # PASS / FAIL / n/a
    accounting_notes: list[str] = dataclasses.field(default_factory=list)
    target: str = ""
    verdict: str = "n/a"  # PASS / FAIL / n/a
    verdict_notes: list[str] = dataclasses.field(default_factory=list)
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())


# Figures a repeated scenario reports as the median of its runs.
_MEDIAN_FIELDS = (
    "offered_req_s",
    "offered_events_s",
    "accepted_events_s",
    "accepted_req_s",
    "persisted_events_s",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "cpu_percent",
)


def combine(runs: list[Outcome]) -> Outcome:
    """One outcome from repeated runs: medians of the rates and latencies, the worst of the rest.

    Peak RSS is the highest of the runs, accounting passes only if every run
    passed, and drops are the median per reason. Each run stays in ``raw``.
    """
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    combined = Outcome(first.name, first.server, first.pinned, first.duration_s, target=first.target)
    for field in _MEDIAN_FIELDS:
        values = [getattr(run, field) for run in runs if getattr(run, field) is not None]
        setattr(combined, field, statistics.median(values) if values else None)
    peaks = [run.rss_peak_mb for run in runs if run.rss_peak_mb is not None]
    combined.rss_peak_mb = max(peaks) if peaks else None
    pauses = [run.host_pauses for run in runs if run.host_pauses is not None]
    combined.host_pauses = int(statistics.median(pauses)) if pauses else None
    longest = [run.host_pause_max_ms for run in runs if run.host_pause_max_ms is not None]
    combined.host_pause_max_ms = max(longest) if longest else None
    combined.host_probe_realtime = all(run.host_probe_realtime for run in runs) if pauses else None
    reasons = {reason for run in runs for reason in run.dropped_by_reason}
    combined.dropped_by_reason = {
        reason: int(statistics.median(run.dropped_by_reason.get(reason, 0) for run in runs)) for reason in reasons
    }
    verdicts = [run.accounting for run in runs]
    combined.accounting = "FAIL" if "FAIL" in verdicts else first.accounting
    failing = [run for run in runs if run.accounting == "FAIL"]
    combined.accounting_notes = [*(failing or [first])[0].accounting_notes, f"(worst of {len(runs)} runs)"]
    combined.verdict_notes = [f"median of {len(runs)} runs"]
    combined.raw = {"runs": [dataclasses.asdict(run) for run in runs]}
    return combined


# A check sees this scenario's outcome and every earlier one (for the ratio).
Check = Callable[[Outcome, Mapping[str, Outcome]], tuple[bool | None, list[str]]]


OTLP_PACED_RATE = 20_000  # spans/s


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    server: Literal["daemon", "reference", "reference-asgi", "reference-stock", "ingest-only"] = "daemon"
    # What each request carries: one event, a JSON array of 50, an OTLP trace export
    # request of 50 GenAI spans (protobuf or OTLP/JSON), or nothing (no load).
    body: Literal["single", "batch", "otlp-protobuf", "otlp-json", "none"] = "single"
    events_per_request: int = 1
    connections: int = 32
    rate: float = 0.0  # requests/s in total; 0 = flat out
    duration_s: float = 15.0
    pinned: bool = True  # wrk on core 1 with one thread; False: wrk anywhere, two threads
    # Where the server may run when pinned: the daemon gets both cores (wrk takes
    # most of core 1), the single-threaded reference core 0 to itself.
    server_cpus: str = "0,1"
    env: tuple[tuple[str, str], ...] = ()  # extra OCT_* settings for the daemon
    # A scenario run right before each run of this one, whose ratio is then taken
    # pair by pair: on a VM whose speed drifts within minutes, a ratio of runs
    # made minutes apart measures the drift as much as the code.
    paired_with: str | None = None
    min_runs: int = 1  # runs even without --repeat (not with --quick): one pair can be far off
    # A client that asks the read API for summary, cost and traces every second during the load.
    poll_reads: bool = False
    target: str = ""
    check: Check | None = None


def _offered_enough(outcome: Outcome, rate: float, notes: list[str]) -> bool:
    # A paced target only means something if the load was really offered.
    if outcome.offered_req_s is None or outcome.offered_req_s < 0.95 * rate:
        notes.append(f"offered only {outcome.offered_req_s or 0:,.0f} of {rate:,.0f} req/s")
        return False
    return True


def _paced_check(requests_per_s: float, p99_ms: float) -> Check:
    """The load offered at ``requests_per_s``, none refused (a 503) nor dropped, and p99 ≤ ``p99_ms``."""

    def check(outcome: Outcome, _: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
        notes: list[str] = []
        ok = _offered_enough(outcome, requests_per_s, notes)
        refused = outcome.raw.get("wrk", {}).get("status_errors", 0)
        if refused:
            ok = False
            notes.append(f"{refused:,} requests refused")
        if outcome.dropped:
            ok = False
            notes.append(f"{outcome.dropped:,} dropped")
        if outcome.p99_ms is None or outcome.p99_ms > p99_ms:
            ok = False
            notes.append(f"p99 {outcome.p99_ms or 0:.2f} ms > {p99_ms:g} ms")
        return ok, notes

    return check


_check_steady_20k = _paced_check(20_000, 5.0)


def _check_steady_1k(outcome: Outcome, _: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
    notes: list[str] = []
    ok = _offered_enough(outcome, 1_000, notes)
    if outcome.p99_ms is None or outcome.p99_ms > 1.0:
        ok = False
        notes.append(f"p99 {outcome.p99_ms or 0:.2f} ms > 1 ms")
    return ok, notes


def _check_batch(outcome: Outcome, _: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
    notes: list[str] = []
    ok = True
    if outcome.persisted_events_s is None or outcome.persisted_events_s < 40_000:
        ok = False
        notes.append(f"persisted {outcome.persisted_events_s or 0:,.0f} events/s < 40,000")
    if outcome.dropped:
        ok = False
        notes.append(f"{outcome.dropped:,} dropped")
    return ok, notes


def _ratio_notes(outcome: Outcome, earlier: Mapping[str, Outcome]) -> tuple[float | None, list[str]]:
    """``outcome``'s 202s per second as a share of the reference's, and notes saying so.

    With paired reference runs (``Scenario.paired_with``) the ratio is the
    median of the pairs' ratios; the reference scenario's own run is then
    for comparison only.
    """
    paired: list[float] = outcome.raw.get("paired_ratios", [])
    reference = earlier.get("reference")
    notes: list[str] = []
    ratio: float | None = None
    if paired:
        ratio = statistics.median(paired)
        partners = ", ".join(f"{rate:,.0f}" for rate in outcome.raw["paired_reference_req_s"])
        pairs = " · ".join(f"{r:.2f}" for r in paired)
        notes.append(f"{ratio:.2f}× reference run just before it ({partners} req/s; pairs {pairs})")
        per_cpu: list[float] = outcome.raw.get("paired_cpu_ratios", [])
        if per_cpu:
            per_cpu_pairs = " · ".join(f"{r:.2f}" for r in per_cpu)
            notes.append(f"{statistics.median(per_cpu):.2f}× per second of own CPU (pairs {per_cpu_pairs})")
    if reference is not None and reference.accepted_req_s and outcome.accepted_req_s is not None:
        unpaired = outcome.accepted_req_s / reference.accepted_req_s
        outcome.raw["ratio_to_reference_scenario"] = unpaired
        notes.append(f"{unpaired:.2f}× reference ({reference.accepted_req_s:,.0f} req/s)")
        if ratio is None:
            ratio = unpaired
    if ratio is None:
        return None, ["no reference run to compare with (add --scenario reference)"]
    outcome.raw["ratio_to_reference"] = ratio
    # For comparison only; the target is against ``reference``, the minimal handler on
    # our whole stack. reference-asgi is that handler as the ASGI app the issue describes,
    # on our protocol; reference-stock is it on uvicorn's own protocol, as PERFORMANCE.md measured.
    for name in ("reference-asgi", "reference-stock"):
        other = earlier.get(name)
        if other is not None and other.accepted_req_s:
            other_ratio = outcome.accepted_req_s / other.accepted_req_s
            outcome.raw[f"ratio_to_{name.replace('-', '_')}"] = other_ratio
            notes.append(f"{other_ratio:.2f}× {name} ({other.accepted_req_s:,.0f} req/s)")
    return ratio, notes


def _check_202_path(outcome: Outcome, earlier: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
    ratio, notes = _ratio_notes(outcome, earlier)
    if ratio is None:
        return None, notes
    if outcome.accounting != "PASS":  # no final counts, or they do not add up
        return False, [*notes, "the 202s are not all accounted for"]
    ok = ratio >= 0.7
    dropped = outcome.dropped
    if dropped:  # a 202 for a dropped event is not the 202 path doing its job
        ok = False
        notes.append(f"{dropped:,} dropped")
    return ok, notes


def _check_flat_out(outcome: Outcome, earlier: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
    """Report only: the issue asks for persisted/s and drops here; the ratio is for comparison."""
    _, notes = _ratio_notes(outcome, earlier)
    if outcome.persisted_events_s is not None:
        notes.insert(0, f"persisted {outcome.persisted_events_s:,.0f} events/s, {outcome.dropped:,} dropped")
    return None, notes


def _check_otlp_flat_out(outcome: Outcome, earlier: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
    """Persisted spans/s against the native batch-50 flat-out figure of the same run (≥ 0.5×)."""
    native = earlier.get("batch-50-max")
    if outcome.persisted_events_s is None or native is None or not native.persisted_events_s:
        return None, ["run batch-50-max in the same run for the ratio"]
    ratio = outcome.persisted_events_s / native.persisted_events_s
    refused = outcome.raw.get("wrk", {}).get("status_errors", 0)
    notes = [
        f"{outcome.persisted_events_s:,.0f} spans/s persisted = {ratio:.2f}× batch-50-max's "
        f"{native.persisted_events_s:,.0f} events/s; {refused:,} requests refused (503)"
    ]
    return ratio >= 0.5, notes


def _check_idle(outcome: Outcome, _: Mapping[str, Outcome]) -> tuple[bool | None, list[str]]:
    notes: list[str] = []
    ok = True
    if outcome.rss_peak_mb is None or outcome.rss_peak_mb > 50:
        ok = False
        notes.append(f"RSS {outcome.rss_peak_mb} MB > 50 MB")
    # "≈ 0": under half a percent of one core, i.e. < 5 ms of CPU per second.
    if outcome.cpu_percent is None or outcome.cpu_percent > 0.5:
        ok = False
        notes.append(f"CPU {outcome.cpu_percent} % > 0.5 %")
    return ok, notes


# In run order: the reference comes before the flat-out runs that compare with it.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "idle",
        "daemon started on the 1M-row database and left alone",
        body="none",
        duration_s=30,
        target="RSS ≤ 50 MB, CPU ≈ 0 (≤ 0.5 %)",
        check=_check_idle,
    ),
    Scenario(
        "steady-1k",
        "1 KB single-event POSTs paced at 1,000/s",
        connections=16,
        rate=1_000,
        duration_s=20,
        target="p99 ≤ 1 ms",
        check=_check_steady_1k,
    ),
    Scenario(
        "steady-20k",
        "1 KB single-event POSTs paced at 20,000/s over keep-alive connections",
        connections=64,
        rate=20_000,
        duration_s=30,
        target="0 drops, p99 ≤ 5 ms",
        check=_check_steady_20k,
    ),
    Scenario(
        "batch-50",
        "JSON arrays of 50 ~1 KB events, paced at 900 POSTs/s (45,000 events/s)",
        body="batch",
        events_per_request=50,
        connections=16,
        rate=900,
        duration_s=15,
        target="≥ 40,000 events/s persisted, 0 drops",
        check=_check_batch,
    ),
    Scenario(
        "batch-50-max",
        "JSON arrays of 50 ~1 KB events, 8 connections flat out (the writer's ceiling)",
        body="batch",
        events_per_request=50,
        connections=8,
        duration_s=15,
        target="(informational)",
    ),
    Scenario(
        "reference",
        "minimal handler on the daemon's exact stack, fast path included (bench/reference_app.py),"
        " 32 connections flat out",
        server="reference",
        server_cpus="0",
        duration_s=15,
        target="(the yardstick)",
    ),
    Scenario(
        "reference-asgi",
        "the same handler as a raw ASGI app on the daemon's protocol without its fast path"
        " (the daemon's stack until 2026-12-02)",
        server="reference-asgi",
        server_cpus="0",
        duration_s=15,
        target="(informational)",
    ),
    Scenario(
        "reference-stock",
        "the same handler on uvicorn's own protocol (two writes per response), as PERFORMANCE.md measured",
        server="reference-stock",
        server_cpus="0",
        duration_s=15,
        target="(informational)",
    ),
    Scenario(
        "202-path",
        "flat-out's load on the daemon's 202 path alone: its HTTP stack, app, validation and queue;"
        " the queue's consumer frees slots instead of writing (bench/ingest_only_app.py)",
        server="ingest-only",
        server_cpus="0",  # as the reference: one process, one core
        duration_s=15,
        target="202 path ≥ 0.7× reference",
        check=_check_202_path,
        paired_with="reference",
        min_runs=3,
    ),
    Scenario(
        "flat-out",
        "1 KB single-event POSTs, 32 connections, no pacing: the whole daemon, storage included",
        duration_s=15,
        target="report persisted/s and drops",
        check=_check_flat_out,
    ),
    Scenario(
        "flat-out-unpinned",
        "flat-out with server and wrk free to use both cores",
        duration_s=15,
        pinned=False,
        target="(informational)",
    ),
    # OTLP trace export requests of 50 GenAI spans: paced, and flat out against batch-50-max.
    *(
        Scenario(
            f"otlp-{encoding}-20k",
            f"OTLP/HTTP {label} export requests of 50 GenAI spans, paced at 400 requests/s (20,000 spans/s)",
            body=f"otlp-{encoding}",  # type: ignore[arg-type]
            events_per_request=50,
            connections=16,
            rate=OTLP_PACED_RATE / 50,
            duration_s=15,
            target="0 refused, 0 dropped, p99 ≤ 10 ms",
            check=_paced_check(OTLP_PACED_RATE / 50, 10.0),
        )
        for encoding, label in (("protobuf", "protobuf"), ("json", "JSON"))
    ),
    *(
        Scenario(
            f"otlp-{encoding}-max",
            f"OTLP/HTTP {label} export requests of 50 GenAI spans, 16 connections flat out",
            body=f"otlp-{encoding}",  # type: ignore[arg-type]
            events_per_request=50,
            connections=16,
            duration_s=15,
            target="persisted spans/s ≥ 0.5× batch-50-max",
            check=_check_otlp_flat_out,
        )
        for encoding, label in (("protobuf", "protobuf"), ("json", "JSON"))
    ),
)

_BASE = {scenario.name: scenario for scenario in SCENARIOS}


def _variant(base: str, suffix: str, description: str, **changes: Any) -> Scenario:
    """``base`` with ``changes``, reported for information only (no target of its own, a report-only check at most)."""
    fields: dict[str, Any] = {
        "target": "(informational)",
        "check": None,
        "paired_with": None,
        "min_runs": 1,
        **changes,
    }
    return dataclasses.replace(_BASE[base], name=f"{base}-{suffix}", description=description, **fields)


_PROCESS = (("OCT_WRITER", "process"),)
SCENARIOS += (
    _variant(
        "steady-20k",
        "reads",
        "steady-20k while a client polls the read API (30-day summary, cost by day and model, traces) every second",
        poll_reads=True,
        target="0 drops, p99 ≤ 5 ms",
        check=_check_steady_20k,
    ),
    # The method before 2026-12-01: the whole daemon on core 0, beside wrk's core.
    _variant("steady-20k", "one-core", "steady-20k with the daemon confined to core 0", server_cpus="0"),
    _variant(
        "flat-out", "one-core", "flat-out with the daemon confined to core 0", server_cpus="0", check=_check_flat_out
    ),
    _variant(
        "202-path", "two-cores", "202-path on both cores, as the daemon runs", server_cpus="0,1", check=_check_flat_out
    ),
    # The writer in a child process, on the same two cores.
    *(
        _variant(name, "process", f"{name} with OCT_WRITER=process", env=_PROCESS)
        for name in ("steady-1k", "steady-20k", "batch-50", "batch-50-max")
    ),
    _variant("flat-out", "process", "flat-out with OCT_WRITER=process", env=_PROCESS, check=_check_flat_out),
    # The same paced loads on servers that store nothing: what this machine's
    # stack and scheduling give at these rates before storage adds anything.
    *(
        _variant(name, suffix, f"{name}'s load on {what}", server=server)
        for name in ("steady-1k", "steady-20k")
        for suffix, server, what in (
            ("reference", "reference", "the minimal reference handler"),
            ("202-path", "ingest-only", "the daemon's 202 path alone"),
        )
    ),
    # OTLP with the writer in its own process: the event loop's decoding and mapping cannot keep it
    # from the GIL there.
    *(
        _variant(name, "process", f"{name} with OCT_WRITER=process", env=_PROCESS, check=_check_otlp_flat_out)
        for name in ("otlp-protobuf-max", "otlp-json-max")
    ),
    # What scrubbing costs the writer: its ceiling with every text value searched for secrets.
    _variant(
        "batch-50-max",
        "scrub",
        "batch-50-max with OCT_SCRUB_SECRETS=true (the writer's ceiling when it scrubs)",
        env=(("OCT_SCRUB_SECRETS", "true"),),
    ),
)

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
