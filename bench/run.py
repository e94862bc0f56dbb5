"""Load benchmark of the openclaw-trace daemon: ``python -m bench.run [--quick] [--scenario NAME]``.

Each scenario gets a fresh copy of a pre-filled database (1M rows) and a
freshly started daemon. On this 2-core machine wrk is pinned to core 1; the
daemon may use both cores (its writer's SQLite work runs beside the event
loop), the single-threaded reference handler has core 0 to itself;
``*-one-core`` confines the daemon to core 0, ``flat-out-unpinned`` frees wrk.
Results: a Markdown table on stdout and a JSON file in bench/results/. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import payloads, prefill, report
from bench.host_pauses import HostPauseProbe
from bench.loadgen import Load, WrkResult, run_wrk
from bench.procs import HOST, ServerProcess, free_port
from bench.scenarios import BY_NAME, MB, SCENARIOS, Outcome, Scenario, combine

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
FULL_ROWS = 1_000_000
QUICK_ROWS = 20_000
QUICK_DURATION_S = 2.0
WRK_CPUS = "1"
# The daemon's own stop deadline; the runner kills it only well after that.
SHUTDOWN_TIMEOUT_S = 60


def server_argv(scenario: Scenario, port: int) -> list[str]:
    if scenario.server == "reference":
        return [sys.executable, "-m", "bench.reference_app", "--port", str(port)]
    if scenario.server == "reference-asgi":
        return [sys.executable, "-m", "bench.reference_app", "--port", str(port), "--asgi"]
    if scenario.server == "reference-stock":
        return [sys.executable, "-m", "bench.reference_app", "--port", str(port), "--stock-protocol"]
    if scenario.server == "ingest-only":
        return [sys.executable, "-m", "bench.ingest_only_app", "--port", str(port)]
    return [sys.executable, "-m", "openclaw_trace", "serve"]


def server_env(port: int, db_path: Path, extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    # The daemon refuses unknown OCT_* variables, so none leak in from outside.
    env = {key: value for key, value in os.environ.items() if not key.startswith("OCT_")}
    env.update(
        OCT_HOST="127.0.0.1",
        OCT_PORT=str(port),
        OCT_DB_PATH=str(db_path),
        OCT_LOG_LEVEL="info",
        OCT_SHUTDOWN_TIMEOUT=f"{SHUTDOWN_TIMEOUT_S}s",
        # The pre-filled rows span 30 days and 1.3 GB: keep them, so a scenario measures
        # ingest and not a one-off cleanup pass (and the row-count accounting holds).
        OCT_RETENTION_DAYS="3650",
        OCT_CLEANUP_DB_THRESHOLD_BYTES="100GiB",  # the 1.3 GB database is over the 1 GiB default
        PYTHONPATH=str(REPO),  # for bench.reference_app and bench.ingest_only_app
    )
    env.update(extra)
    return env


def load_for(scenario: Scenario, duration_s: float) -> Load:
    content_type = "application/json"
    if scenario.body == "single":
        body = payloads.single_event_body()
    elif scenario.body == "batch":
        body = payloads.batch_body(50)
    else:  # an OTLP trace export request
        encoding = scenario.body.removeprefix("otlp-")
        body = payloads.otlp_spans_body(50, encoding)
        content_type = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    return Load(
        body=body,
        content_type=content_type,
        events_per_request=scenario.events_per_request,
        connections=scenario.connections,
        # One wrk thread per core it may use.
        threads=1 if scenario.pinned else 2,
        duration_s=duration_s,
        rate=scenario.rate,
        cpus=WRK_CPUS if scenario.pinned else None,
    )


def copy_db(source: Path, dest: Path) -> None:
    """Copy the pre-filled database and flush the copy to disk before the daemon opens it.

    Without the fsync the copy sits in the page cache as ~1.2 GB of dirty
    pages, and the daemon's first WAL checkpoint (whose fsync must write them
    all out) stalls the writer for a good part of a second inside the
    measured run: queue_full drops caused by the harness, not the daemon.
    """
    shutil.copyfile(source, dest)
    with open(dest, "rb+") as copied:
        os.fsync(copied.fileno())


def run_scenario(scenario: Scenario, source_db: Path, prefill_rows: int, duration_s: float) -> Outcome:
    work_dir = Path(tempfile.mkdtemp(prefix=f"oct-bench-{scenario.name}-"))
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / "traces.db"
    try:
        if scenario.server == "daemon":
            copy_db(source_db, db_path)
        port = free_port()
        server = ServerProcess(
            server_argv(scenario, port),
            server_env(port, db_path, scenario.env),
            port,
            log_dir / f"{scenario.name}.log",
            scenario.server_cpus if scenario.pinned else None,
        )
        outcome = Outcome(scenario.name, scenario.server, scenario.pinned, duration_s, target=scenario.target)
        try:
            server.wait_ready()
            if scenario.body.startswith("otlp-"):
                start_otlp_decoder(server, scenario.body.removeprefix("otlp-"))
            measure(scenario, server, duration_s, work_dir, outcome)
        finally:
            exit_code = server.stop(SHUTDOWN_TIMEOUT_S + 30)
        outcome.rss_peak_mb = round(server.sampler.peak_bytes / MB, 1)
        outcome.raw["exit_code"] = exit_code
        if scenario.server == "ingest-only":
            records = server.log_records()
            final = next((r for r in reversed(records) if r.get("msg") == "ingest-only stopped"), None)
            if final is None:
                outcome.accounting = "FAIL"
                outcome.accounting_notes.append("no 'ingest-only stopped' line: drops unknown")
            else:
                outcome.received = int(final["events_received"])
                outcome.written = int(final["events_written"])  # released, not stored
                outcome.dropped_by_reason = {k: int(v) for k, v in final["dropped_by_reason"].items()}
                verify_released(outcome)
        if scenario.server == "daemon":
            records = server.log_records()
            final = next((r for r in reversed(records) if r.get("msg") == "openclaw-trace stopped"), None)
            verify_accounting(outcome, final, prefill.count_rows(db_path) - prefill_rows)
            # A figure measured while the daemon logs errors is not a figure of the daemon working.
            errors = sum(1 for r in records if r.get("level") in ("error", "critical"))
            if errors:
                outcome.verdict_notes.append(f"{errors:,} error lines in {server.log_path.relative_to(REPO)}")
        return outcome
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


class ReadPoller:
    """Asks the read API for a summary, cost by day and model, and traces once a second, on its own thread."""

    PATHS = ("/api/v1/summary?since=30d", "/api/v1/cost?since=30d&by=day,model", "/api/v1/traces?limit=50")

    def __init__(self, port: int) -> None:
        self._port = port
        self._stop = threading.Event()
        self._took_ms: list[float] = []
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="bench-read-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float | int]:
        self._stop.set()
        self._thread.join(30)
        took = sorted(self._took_ms)
        p95 = took[min(len(took) - 1, int(0.95 * len(took)))] if took else 0.0
        return {"requests": len(took), "failures": self._failures, "p95_ms": round(p95, 1)}

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
        while not self._stop.wait(1.0):
            for path in self.PATHS:
                started = time.perf_counter()
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                if ok:
                    self._took_ms.append((time.perf_counter() - started) * 1000)
                else:
                    self._failures += 1
        conn.close()


def start_otlp_decoder(server: ServerProcess, encoding: str, timeout_s: float = 30.0) -> None:
    """One export request before the load, and the wait until the daemon's OTLP decoder runs.

    The decoder starts at a daemon's first OTLP request (~0.1 s of imports, longer
    under load) and runs from then on; the OTLP scenarios measure a daemon beside
    a live exporter, past that once-in-its-life start. (Started under the load, it
    put the paced p99 over 10 ms in 3 of 8 runs: docs/benchmarks.md.)
    """
    content_type = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request("POST", "/v1/traces", payloads.otlp_spans_body(50, encoding), {"Content-Type": content_type})
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"the OTLP warm-up request was answered {answer.status}")
    finally:
        connection.close()
    deadline = time.monotonic() + timeout_s
    while not server.health().get("otlp_decoder", {}).get("running"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the OTLP decoder did not start within {timeout_s:.0f} s; see {server.log_path}")
        time.sleep(0.05)


def measure(scenario: Scenario, server: ServerProcess, duration_s: float, work_dir: Path, outcome: Outcome) -> None:
    """Run the load (or stay idle) and fill in the rates, latencies and CPU of ``outcome``."""
    is_daemon = scenario.server == "daemon"
    before = server.health() if is_daemon else {}
    threads_before = server.thread_cpu_seconds()
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    wrk: WrkResult | None = None
    poller = ReadPoller(server.port) if scenario.poll_reads else None
    with HostPauseProbe() as probe:
        if poller is not None:
            poller.start()
        try:
            if scenario.body == "none":
                time.sleep(duration_s)
            else:
                wrk = run_wrk(server.url, load_for(scenario, duration_s), work_dir)
        finally:
            if poller is not None:
                outcome.raw["reads"] = poller.stop()
    assert probe.result is not None
    outcome.host_pauses = len(probe.result.delays_ms)
    outcome.host_pause_max_ms = max(probe.result.delays_ms, default=0.0)
    outcome.host_probe_realtime = probe.result.realtime
    outcome.raw["host_pause_ms"] = probe.result.delays_ms
    # The window runs from just before wrk starts to just after it exits (a few ms more than its run).
    after = server.health() if is_daemon else {}
    elapsed = time.monotonic() - started
    outcome.cpu_percent = round(100 * (server.cpu_seconds() - cpu_before) / elapsed, 2)
    threads_after = server.thread_cpu_seconds()
    outcome.raw["thread_cpu_percent"] = {
        name: round(100 * (seconds - threads_before.get(name, 0.0)) / elapsed, 1)
        for name, seconds in sorted(threads_after.items())
        if seconds - threads_before.get(name, 0.0) > 0
    }
    if is_daemon:
        outcome.persisted_events_s = (after["events_written"] - before["events_written"]) / elapsed
        outcome.raw["health_before"], outcome.raw["health_after"] = before, after
    if wrk is None:
        return
    per_request = scenario.events_per_request
    outcome.offered_req_s = wrk.per_s(wrk.requests)
    outcome.offered_events_s = outcome.offered_req_s * per_request
    outcome.accepted_req_s = wrk.per_s(wrk.ok_responses)
    outcome.accepted_events_s = outcome.accepted_req_s * per_request
    outcome.p50_ms = wrk.latency_us["p50"] / 1000
    outcome.p99_ms = wrk.latency_us["p99"] / 1000
    outcome.p999_ms = wrk.latency_us["p999"] / 1000
    outcome.raw["wrk"] = {
        "requests": wrk.requests,
        "duration_s": wrk.duration_s,
        "status_errors": wrk.status_errors,
        "socket_errors": wrk.socket_errors,
        "latency_us": wrk.latency_us,
        "asked_rate": scenario.rate,
        "connections": scenario.connections,
        "events_per_request": per_request,
    }
    if wrk.status_errors or wrk.socket_errors:
        outcome.verdict_notes.append(f"wrk: {wrk.status_errors} non-2xx, {wrk.socket_errors} socket errors")


def verify_released(outcome: Outcome) -> None:
    """For the 202 path alone: received == released + dropped, and every 202 wrk saw was counted."""
    assert outcome.received is not None and outcome.written is not None
    checks = {
        f"received {outcome.received:,} == released + dropped {outcome.written + outcome.dropped:,}": (
            outcome.received == outcome.written + outcome.dropped
        ),
    }
    wrk = outcome.raw.get("wrk")
    if wrk is not None:
        answered = (wrk["requests"] - wrk["status_errors"]) * wrk["events_per_request"]
        checks[f"received {outcome.received:,} ≥ events answered 202 {answered:,}"] = outcome.received >= answered
    outcome.accounting = "PASS" if all(checks.values()) else "FAIL"
    outcome.accounting_notes = [("" if ok else "NOT ") + text for text, ok in checks.items()]


def verify_accounting(outcome: Outcome, final: dict[str, Any] | None, rows_added: int) -> None:
    """After the SIGTERM drain: rows added == written, and received == written + dropped."""
    outcome.rows_added = rows_added
    if final is None:
        outcome.accounting = "FAIL"
        outcome.accounting_notes.append("no 'openclaw-trace stopped' log line")
        return
    received, written = int(final["events_received"]), int(final["events_written"])
    outcome.received, outcome.written = received, written
    outcome.dropped_by_reason = {k: int(v) for k, v in final["dropped_by_reason"].items()}
    checks = {
        f"rows added {rows_added:,} == written {written:,}": rows_added == written,
        f"received {received:,} == written + dropped {written + outcome.dropped:,}": (
            received == written + outcome.dropped
        ),
        f"exit code {outcome.raw.get('exit_code')} == 0": outcome.raw.get("exit_code") == 0,
    }
    wrk = outcome.raw.get("wrk")
    if wrk is not None:
        # wrk does not count responses still in flight when it stops, so the
        # daemon may have received a few more events than wrk saw answered.
        answered = (wrk["requests"] - wrk["status_errors"]) * wrk["events_per_request"]
        checks[f"received {received:,} ≥ events answered 202 {answered:,}"] = received >= answered
    outcome.accounting = "PASS" if all(checks.values()) else "FAIL"
    outcome.accounting_notes = [("" if ok else "NOT ") + text for text, ok in checks.items()]


def record_pairs(outcome: Outcome, runs: list[Outcome], partners: list[Outcome]) -> None:
    """Keep each run's ratio to the partner run made right before it (``Scenario.paired_with``)."""
    ratios = [
        run.accepted_req_s / partner.accepted_req_s
        for run, partner in zip(runs, partners, strict=True)
        if run.accepted_req_s and partner.accepted_req_s
    ]
    outcome.raw["paired_reference_req_s"] = [partner.accepted_req_s for partner in partners]
    outcome.raw["paired_ratios"] = ratios
    # The same per second of the server's own CPU: when the VM gives a server less
    # than its core (CPU % well under 100), this is what the code does with what it got.
    outcome.raw["paired_cpu_ratios"] = [
        (run.accepted_req_s / run.cpu_percent) / (partner.accepted_req_s / partner.cpu_percent)
        for run, partner in zip(runs, partners, strict=True)
        if run.accepted_req_s and partner.accepted_req_s and run.cpu_percent and partner.cpu_percent
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_DURATION_S:.0f} s per scenario, small database",
    )
    parser.add_argument("--scenario", action="append", choices=list(BY_NAME), help="run only this one (repeatable)")
    parser.add_argument(
        "--rows", type=int, help=f"pre-filled rows (default {FULL_ROWS:,}; with --quick {QUICK_ROWS:,})"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per scenario; the table shows their medians (default 1)"
    )
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]

    info = report.machine(REPO)
    print(
        f"bench: openclaw-trace {info['source']} on {info['nproc']} × {info['cpu_model']},"
        f" Python {info['python']}, SQLite {info['sqlite']}"
    )
    source_db = prefill.cached_db(RESULTS_DIR / "cache", rows)
    outcomes: dict[str, Outcome] = {}
    for scenario in chosen:
        duration_s = QUICK_DURATION_S if args.quick else scenario.duration_s
        print(f"bench: {scenario.name}: {scenario.description} ({duration_s:.0f} s)", flush=True)
        runs = []
        partners = []
        attempts = args.repeat if args.quick else max(args.repeat, scenario.min_runs)
        for attempt in range(attempts):
            if scenario.paired_with is not None:
                partners.append(run_scenario(BY_NAME[scenario.paired_with], source_db, rows, duration_s))
                print(f"bench:   paired: {report.markdown_table(partners[-1:]).splitlines()[-1]}", flush=True)
            runs.append(run_scenario(scenario, source_db, rows, duration_s))
            if attempts > 1:
                print(f"bench:   run {attempt + 1}: {report.markdown_table(runs[-1:]).splitlines()[-1]}", flush=True)
        outcome = combine(runs)
        if partners:
            record_pairs(outcome, runs, partners)
        if scenario.check is not None:
            passed, notes = scenario.check(outcome, outcomes)
            outcome.verdict = "n/a" if passed is None else ("PASS" if passed else "FAIL")
            outcome.verdict_notes = notes + outcome.verdict_notes
        outcomes[scenario.name] = outcome
        print(f"bench:   {report.markdown_table([outcome]).splitlines()[-1]}", flush=True)

    options = {"quick": args.quick, "rows": rows, "repeat": args.repeat, "scenarios": [s.name for s in chosen]}
    saved = report.save_json(RESULTS_DIR, info, options, list(outcomes.values()))
    pinned = [o for o in outcomes.values() if o.pinned]
    unpinned = [o for o in outcomes.values() if not o.pinned]
    if pinned:
        print(f"\nwrk pinned to core {WRK_CPUS}; the daemon on cores 0,1 (one-core: 0), the reference on core 0:\n")
        print(report.markdown_table(pinned))
    if unpinned:
        print("\nServer and wrk unpinned (both cores shared):\n")
        print(report.markdown_table(unpinned))
    print()
    print("Accounting after the SIGTERM drain:")
    print(report.accounting_lines(list(outcomes.values())))
    print("\nCPU by thread over the load window (% of one core):")
    print(report.thread_cpu_lines(list(outcomes.values())))
    print("\nThe machine's own pauses over the load window (bench/host_pauses.py):")
    print(report.host_pause_lines(list(outcomes.values())))
    print(f"\nbench: results saved to {saved.relative_to(REPO)}")
    failed = any(o.accounting == "FAIL" for o in outcomes.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
