"""How long a full garbage collection holds the GIL in a running daemon, with and without the start-up freeze.

Starts a daemon in this process on a fresh database (as the tests do), sends
it some traffic so every part has run, and times ``gc.collect()`` as the
daemon leaves things (start-up objects frozen, ``lifecycle.freeze_startup_objects``)
and with them thawed (what a full pass cost before). Each pass holds the
GIL throughout: the HTTP loop and the writer both wait for it.

    .venv/bin/python -m bench.gc_pause            # a few seconds

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from openclaw_trace.config import load_config
from openclaw_trace.daemon import Daemon


def full_pass_ms(passes: int) -> list[float]:
    """Wall time of ``passes`` full collections, in ms."""
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - start) * 1000)
    return times


def send_traffic(url: str, requests: int) -> None:
    events = [{"provider": "anthropic", "model": "claude-sonnet-4", "input_text": "x" * 500} for _ in range(50)]
    body = json.dumps(events).encode()
    for _ in range(requests):
        request = urllib.request.Request(url + "/v1/traces", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=9, help="full collections timed per row (default 9)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oct-gc-") as work:
        config = load_config({"OCT_DB_PATH": str(Path(work) / "gc.db"), "OCT_PORT": "0", "OCT_LOG_LEVEL": "warning"})
        daemon = Daemon(config)
        daemon.start()
        try:
            send_traffic(daemon.url, 200)
            frozen = gc.get_freeze_count()
            rows = [("start-up objects frozen (as shipped)", len(gc.get_objects()), full_pass_ms(args.passes))]
            gc.unfreeze()
            rows.append(("the same daemon, thawed (before)", len(gc.get_objects()), full_pass_ms(args.passes)))
        finally:
            daemon.stop()
    print(f"frozen at start-up: {frozen:,} objects\n")
    print("| heap | objects the pass visits | full pass median ms | max ms |")
    print("|---|---|---|---|")
    for name, objects, times in rows:
        print(f"| {name} | {objects:,} | {statistics.median(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    main()
