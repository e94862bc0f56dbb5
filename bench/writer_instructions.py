"""The writer's work per 50-event batch, in instructions: what it costs with the GIL held and in SQLite.

In thread mode the writer shares the GIL with the event loop: while it binds
a batch's values or builds its rows, a request that arrives waits. SQLite's
own work on the batch (``sqlite3_step``, commit included: the batch is one
autocommitted INSERT) runs with the GIL released. This counts both, under
``valgrind --tool=callgrind``, for the daemon's own ``BatchWrites`` on a
batch of 50 bench events decoded as the daemon decodes them, written again
and again into a fresh database: instructions for a short and a long run,
difference divided by the difference in batches. Like ``bench.instructions``
it counts work, not time, so a drifting VM cannot move it.

    .venv/bin/python -m bench.writer_instructions        # ~25 s; needs valgrind

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import payloads
from openclaw_trace.model import EventLimits, decode_traces
from openclaw_trace.pipeline.batch import BatchWrites
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema
from openclaw_trace.storage.connection import open_write_connection

BATCH_EVENTS = 50
_TOTAL = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", re.MULTILINE)
_STEP = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\S*:sqlite3_step\b", re.MULTILINE)


def write_batches(db_path: str, batches: int) -> None:
    """The measured work: ``batches`` writes of one 50-event batch (fresh ids each time)."""
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    batch = decode_traces(payloads.batch_body(BATCH_EVENTS), 0, EventLimits())
    writes = BatchWrites(conn, Stats(), threading.Event())
    for _ in range(batches):
        writes.write(batch)
    conn.close()


def count(tools: dict[str, str], batches: int, work_dir: Path) -> tuple[int, int]:
    """(all instructions, instructions inside ``sqlite3_step``) of a child writing ``batches``."""
    out = work_dir / f"callgrind-{batches}.out"
    db_path = work_dir / f"writer-{batches}.db"
    child = [sys.executable, "-m", "bench.writer_instructions", "--child", str(batches), "--db", str(db_path)]
    # A fixed hash seed and a small fixed environment: the same count every run.
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parent.parent)}
    run = subprocess.run(
        [tools["valgrind"], "--tool=callgrind", f"--callgrind-out-file={out}", *child],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"the writer under valgrind failed ({run.returncode}):\n{run.stderr[-2000:]}")
    report = subprocess.run(
        [tools["callgrind_annotate"], "--inclusive=yes", "--threshold=100", str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    total, step = _TOTAL.search(report), _STEP.search(report)
    if total is None or step is None:
        raise RuntimeError(f"no totals in callgrind_annotate's report of {out}")
    return int(total.group(1).replace(",", "")), int(step.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writer_instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=20, help="batches in the short run (default 20)")
    parser.add_argument("--long", type=int, default=220, help="batches in the long run (default 220)")
    parser.add_argument("--child", type=int, metavar="BATCHES", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        write_batches(args.db, args.child)
        return 0
    tools = {name: shutil.which(name) for name in ("valgrind", "callgrind_annotate")}
    found = {name: path for name, path in tools.items() if path is not None}
    if len(found) < len(tools):
        print("bench.writer_instructions: valgrind is missing (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="oct-writer-instructions-") as tmp:
        # Once outside valgrind first: a module compiled during the short run only
        # (its .pyc stale or missing) would come off the difference.
        write_batches(str(Path(tmp) / "warm-up.db"), 1)
        short_total, short_step = count(found, args.short, Path(tmp))
        long_total, long_step = count(found, args.long, Path(tmp))
    batches = args.long - args.short
    total = (long_total - short_total) / batches
    step = (long_step - short_step) / batches
    print("| the writer, per 50-event batch | instructions | per event |")
    print("|---|---|---|")
    for label, value in (("all", total), ("GIL held", total - step), ("in sqlite3_step (GIL released)", step)):
        print(f"| {label} | {value:,.0f} | {value / BATCH_EVENTS:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
