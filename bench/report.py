"""The machine description, the Markdown table and the JSON file of a benchmark run."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.loadgen import wrk_version
from bench.scenarios import Outcome


def machine(repo: Path) -> dict[str, Any]:
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    versions = {name: metadata.version(name) for name in ("uvicorn", "uvloop", "httptools", "msgspec")}
    return {
        "source": source_version(repo),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version(),
        **versions,
    }


def source_version(repo: Path) -> str:
    """The commit measured, marked "+dirty" when src/ has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _drops(outcome: Outcome) -> str:
    if outcome.server not in ("daemon", "ingest-only") or outcome.name == "idle":
        return "–"
    reasons = outcome.dropped_by_reason
    if not any(reasons.values()):
        return "0"
    return " / ".join(f"{reason} {count:,}" for reason, count in reasons.items() if count)


def _verdict(outcome: Outcome) -> str:
    notes = "; ".join(outcome.verdict_notes)
    return f"{outcome.verdict} ({notes})" if notes else outcome.verdict


def markdown_table(outcomes: Sequence[Outcome]) -> str:
    header = (
        "| scenario | offered req/s | offered ev/s | accepted ev/s (202) | persisted ev/s | drops |"
        " p50 ms | p99 ms | peak RSS MB | CPU % (1 core) | accounting | target | result |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for o in outcomes:
        name = o.name + ("" if o.pinned else " (both cores)")
        lines.append(
            f"| {name} | {_num(o.offered_req_s)} | {_num(o.offered_events_s)} | {_num(o.accepted_events_s)}"
            f" | {_num(o.persisted_events_s)} | {_drops(o)} | {_num(o.p50_ms, 2)} | {_num(o.p99_ms, 2)}"
            f" | {_num(o.rss_peak_mb, 1)} | {_num(o.cpu_percent, 1)} | {o.accounting} | {o.target}"
            f" | {_verdict(o)} |"
        )
    return "\n".join(lines)


def accounting_lines(outcomes: Sequence[Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.accounting != "n/a":
            lines.append(f"- {o.name}: {o.accounting} — " + "; ".join(o.accounting_notes))
    return "\n".join(lines)


def thread_cpu_lines(outcomes: Sequence[Outcome]) -> str:
    """One line per scenario: each thread's CPU (the median per thread over repeated runs)."""
    lines = []
    for o in outcomes:
        runs = [run["raw"] for run in o.raw["runs"]] if "runs" in o.raw else [o.raw]
        per_run = [raw["thread_cpu_percent"] for raw in runs if raw.get("thread_cpu_percent")]
        if not per_run:
            continue
        names = sorted({name for shares in per_run for name in shares}, key=lambda n: (n != "main", n))
        shares = {name: statistics.median(run.get(name, 0.0) for run in per_run) for name in names}
        busy = [f"{name} {share:.1f}" for name, share in shares.items() if share >= 0.05]
        lines.append(f"- {o.name}: " + (", ".join(busy) if busy else "all threads < 0.05"))
    return "\n".join(lines)


def host_pause_lines(outcomes: Sequence[Outcome]) -> str:
    """One line per scenario: how often a real-time sleeper woke more than 3 ms late, and the longest."""
    lines = []
    for o in outcomes:
        if o.host_pauses is None:
            continue
        kind = "" if o.host_probe_realtime else " (probe at normal priority: includes CPU contention)"
        runs = o.raw.get("runs")
        per_run = ""
        if runs:
            # Beside each run's drops: a run that dropped events while the machine paused longer
            # than the 512 slots last tells a host stall from a slow daemon.
            pairs = [
                f"{run['host_pauses']}"
                + (f", longest {run['host_pause_max_ms']:.1f} ms" if run["host_pauses"] else "")
                + (
                    f", {sum(run['dropped_by_reason'].values()):,} dropped"
                    if sum(run["dropped_by_reason"].values())
                    else ""
                )
                for run in runs
            ]
            per_run = f" (per run: {' · '.join(pairs)})"
        if o.host_pauses == 0 and not o.host_pause_max_ms:
            lines.append(f"- {o.name}: none{per_run}{kind}")
        else:
            lines.append(f"- {o.name}: {o.host_pauses} pauses{per_run}, longest {o.host_pause_max_ms:.1f} ms{kind}")
    return "\n".join(lines)


def save_json(results_dir: Path, info: dict[str, Any], options: dict[str, Any], outcomes: Sequence[Outcome]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"bench-{stamp}.json"
    document = {
        "machine": info,
        "options": options,
        "scenarios": [dataclasses.asdict(o) | {"dropped": o.dropped} for o in outcomes],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
