"""The ingest core's reliability runs: ``python -m bench.reliability [--quick] [--case NAME] [--soak-minutes N]``.

Runs the rows of ../shared/RELIABILITY.md that the ingest core answers for,
each at the size the table gives (sustained load 60 s, burst of 5,000,
20 graceful stops, 50 kills, a database locked for 2 s and 15 s, a reader
open for 120 s; ~6 minutes), and, when asked, the 30-minute soak with
everything on (``make soak``). The smaller rows (hostile bodies, fuzzing,
slow clients, disk full) are tests in ``make test``. Prints a Markdown table
and saves the figures in ``bench/results/reliability-<time>.json``. Exit
status 1 when a row fails. Loopback only; everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import reliability_cases as cases
from bench.procs import rss_bytes
from bench.push import Receiver
from bench.reliability_load import stop_senders
from openclaw_trace.storage.checkpointer import RESTART_THRESHOLD_BYTES

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
GATEWAY_LOG = REPO / "tests" / "fixtures" / "gateway-log" / "openclaw-2026-11-22.v2026.9.6.log"
_LOG_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}")
QUICK_SCALE = 0.1
SOAK_SAMPLE_S = 10.0
SOAK_WARM_UP_S = 120.0
# "Flat": the median of the last quarter against the first, after the warm-up (imports,
# caches, SQLite's page cache, the first push of the backlog):
SOAK_RSS_GROWTH_MB = 5.0
SOAK_OPEN_FILES_SPREAD = 8
# The WAL may pass the 50 MB TRUNCATE rule for a while (a cleanup's big DELETE), but must
# come back under it: in every window of this length some sample is under it.
SOAK_WAL_WINDOW_S = 300.0


def soak(work_dir: Path, minutes: float) -> cases.Result:
    """Everything on for ``minutes``: steady load, host metrics, a followed gateway log, push."""
    result = cases.Result("soak", 1)
    receiver = Receiver()
    log_dir = work_dir / "gateway"
    log_dir.mkdir()
    env = {
        "OCT_PUSH_ENDPOINT": receiver.url + "/ingest",
        "OCT_PUSH_INTERVAL": "30s",
        "OCT_LOG_PATH": str(log_dir / "openclaw-*.log"),
        "OCT_METRICS_INTERVAL": "5s",
        "OCT_CLEANUP_INTERVAL": "60s",
    }
    db = work_dir / "soak.db"
    daemon = cases.Daemon(work_dir, db, "soak", env)
    senders = cases.load(daemon.port, cases.STEADY)
    log_lines = GATEWAY_LOG.read_text().splitlines(keepends=True)
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    try:
        with (log_dir / "openclaw-2026-12-02.log").open("a") as gateway_log:
            while time.monotonic() - started < minutes * 60:
                # The gateway keeps logging, as a real one does, at today's time: lines dated as the
                # fixture's (Nov 22) would be older than the retention, and upkeep would delete them.
                stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
                gateway_log.writelines(_LOG_TIME.sub(stamp, line) for line in log_lines)
                gateway_log.flush()
                time.sleep(SOAK_SAMPLE_S)
                report = daemon.server.health()
                samples.append(
                    {
                        "at_s": round(time.monotonic() - started, 1),
                        "rss_mb": rss_bytes(daemon.server.pid) / 2**20,
                        "open_files": cases.open_files(daemon.server.pid),
                        "wal_mb": report["wal_size_bytes"] / 1e6,
                        "db_mb": report["db_size_bytes"] / 1e6,
                        "written": report["events_written"],
                        "unsynced": report["unsynced_count"],
                    }
                )
    finally:
        tally = stop_senders(senders)
        # Upkeep deleted rows to keep the file under its size limit; they count as written.
        deleted = sum(daemon.server.health()["upkeep"]["deleted"].values())
        code, _ = daemon.stop()
        receiver.close()
    line, rows = daemon.stopped_line(), cases.stored_rows(db)
    cases.check_books(result, "soak", line, db, tally, deleted)
    if code != 0:
        result.problems.append(f"exit code {code}")
    # Warm-up: the first tenth, and at least the first two push cycles (a push of the backlog
    # leaves its peak in the allocator for good, ~40 MB here).
    warm = max(len(samples) // 10, int(SOAK_WARM_UP_S / SOAK_SAMPLE_S))
    settled = samples[warm:] or samples
    first, last = settled[: max(1, len(settled) // 4)], settled[-max(1, len(settled) // 4) :]
    # Medians: each push cycle lifts RSS for a moment (its batch in memory), so one sample's
    # peak says little; a leak moves the whole of the last quarter up.
    growth = statistics.median(s["rss_mb"] for s in last) - statistics.median(s["rss_mb"] for s in first)
    spread = max(s["open_files"] for s in settled) - min(s["open_files"] for s in settled)
    wal_max = max(s["wal_mb"] for s in settled)
    if growth > SOAK_RSS_GROWTH_MB:
        result.problems.append(f"RSS grew {growth:.1f} MB")
    if spread > SOAK_OPEN_FILES_SPREAD:
        result.problems.append(f"open files varied by {spread}")
    for window in _windows(settled, SOAK_WAL_WINDOW_S):
        if min(s["wal_mb"] for s in window) * 1e6 > RESTART_THRESHOLD_BYTES:
            result.problems.append(f"the WAL stayed over 50 MB from {window[0]['at_s']:.0f} s for 5 minutes")
            break
    if receiver.requests == 0:
        result.problems.append("nothing was pushed")
    result.figures = {
        "minutes": minutes,
        "events stored": rows,
        "rows deleted by upkeep": deleted,
        "database MB max": round(max(s["db_mb"] for s in settled), 1),
        "RSS MB median, first quarter → last": " → ".join(
            f"{statistics.median(s['rss_mb'] for s in part):.1f}" for part in (first, last)
        ),
        "RSS MB lowest–highest": f"{min(s['rss_mb'] for s in settled):.1f}–{max(s['rss_mb'] for s in settled):.1f}",
        "open files min–max": f"{min(s['open_files'] for s in settled)}–{max(s['open_files'] for s in settled)}",
        "WAL max MB": round(wal_max, 1),
        "push requests": receiver.requests,
        "unsynced at the end": samples[-1]["unsynced"] if samples else None,
        "samples": samples,
    }
    return result


def _windows(samples: list[dict[str, float]], length_s: float) -> list[list[dict[str, float]]]:
    """Every run of consecutive samples spanning ``length_s``."""
    windows = []
    for start, first in enumerate(samples):
        window = [s for s in samples[start:] if s["at_s"] - first["at_s"] <= length_s]
        if window[-1]["at_s"] - first["at_s"] >= length_s * 0.9:
            windows.append(window)
    return windows


def markdown(results: list[cases.Result]) -> str:
    lines = ["| test | runs | figures | result |", "|---|---|---|---|"]
    for result in results:
        shown = "; ".join(f"{key}: {value}" for key, value in result.figures.items() if key != "samples")
        verdict = "**PASS**" if result.passed else "FAIL: " + "; ".join(result.problems[:5])
        lines.append(f"| {result.name} | {result.runs} | {shown} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every duration and run count")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these (repeatable)")
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=0.0,
        help="run the soak this long (30: the table's); alone unless --case is given too",
    )
    parser.add_argument("--seed", type=int, default=1, help="for the random stop and kill moments")
    options = parser.parse_args(argv)
    scale = QUICK_SCALE if options.quick else 1.0
    rng = random.Random(options.seed)
    # The soak alone when it is asked for without cases (``make soak``).
    chosen = options.case or ([] if options.soak_minutes > 0 else ORDER)
    results: list[cases.Result] = []
    with tempfile.TemporaryDirectory(prefix="oct-reliability-") as tmp:
        for name in [n for n in ORDER if n in chosen]:
            print(f"reliability: {name} ...", file=sys.stderr, flush=True)
            try:
                results.append(CASES[name](Path(tmp), scale, rng))
            except Exception as exc:  # a broken case is a failed row, and the others still run
                results.append(cases.Result(name, 0, problems=[f"the case itself failed: {exc!r}"]))
            finally:
                cases.stop_everything()
            print(markdown(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        if options.soak_minutes > 0:
            print(f"reliability: soak, {options.soak_minutes:g} minutes ...", file=sys.stderr, flush=True)
            try:
                results.append(soak(Path(tmp), options.soak_minutes))
            except Exception as exc:
                results.append(cases.Result("soak", 0, problems=[f"the soak itself failed: {exc!r}"]))
            finally:
                cases.stop_everything()
    print(markdown(results))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / time.strftime("reliability-%Y%m%dT%H%M%S.json")
    saved = [{"name": r.name, "runs": r.runs, "figures": r.figures, "problems": r.problems} for r in results]
    path.write_text(json.dumps({"scale": scale, "seed": options.seed, "results": saved}, indent=1, default=str))
    print(f"reliability: figures in {path.relative_to(REPO)}", file=sys.stderr)
    return 0 if all(r.passed for r in results) else 1


Case = Callable[[Path, float, random.Random], cases.Result]
CASES: dict[str, Case] = {
    "sustained": lambda work, scale, rng: cases.sustained(work, scale),
    "burst": lambda work, scale, rng: cases.burst(work, scale),
    "graceful-stop": cases.graceful_stops,
    "kill-9": cases.kills,
    "locked": lambda work, scale, rng: cases.locked(work, scale),
    "long-reader": lambda work, scale, rng: cases.long_reader(work, scale),
}
ORDER = ["sustained", "burst", "graceful-stop", "kill-9", "locked", "long-reader"]

if __name__ == "__main__":
    raise SystemExit(main())
