"""The daemon's 202 path alone: its HTTP stack, app, handler, queue and counters, and no storage.

What the issue compares with the reference handler ("the 202 path alone
≥ 0.7× the reference"): everything a request goes through in the daemon —
``api.server.server_config`` (uvicorn, httptools through the daemon's
protocol, uvloop), ``api.app.App`` with its routing and token check, the
full validation of ``model.TraceIn``, the envelope with its cost, the
``IngestQueue`` of 512 with ``Stats`` — but the consumer of the queue is a
thread that releases each batch's slots instead of writing it. The reference
appends to a deque nobody reads; this pays for a real consumer's wake-ups and
locks. ``flat-out`` measures the whole daemon, storage included.

On SIGTERM it prints one JSON line with what it received, queued and
dropped, so the runner can tell that the 202s were for queued events.

Run: ``python -m bench.ingest_only_app --port N`` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
from types import FrameType

import uvicorn
import uvloop

from openclaw_trace import __version__
from openclaw_trace.api.app import App
from openclaw_trace.api.context import AppContext
from openclaw_trace.api.server import server_config
from openclaw_trace.config import load_config
from openclaw_trace.lifecycle import freeze_startup_objects, named_target
from openclaw_trace.model import EventLimits
from openclaw_trace.pipeline.queue import IngestQueue, inner_kinds, slots
from openclaw_trace.pricing import load_prices
from openclaw_trace.stats import Stats


def release_batches(queue: IngestQueue, stats: Stats) -> None:
    """The writer's loop with the writing left out: take each due batch, count it, free its slots."""
    while True:
        batch = queue.take_batch()
        if batch:
            for kind, count in inner_kinds(batch).items():
                stats.record_written(kind, count)
            queue.done(slots(batch))
        elif queue.exhausted():
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = load_config({"OCT_PORT": str(args.port)})  # the embedded defaults otherwise
    stats = Stats()
    queue = IngestQueue(stats)
    limits = EventLimits(max_text_bytes=config.max_text_bytes, prices=load_prices(config.prices_file))
    ctx = AppContext(config=config, stats=stats, queue=queue, version=__version__, limits=limits)
    consumer = threading.Thread(
        target=named_target(lambda: release_batches(queue, stats), "oct-writer"), name="oct-writer", daemon=True
    )
    consumer.start()
    server = uvicorn.Server(
        server_config(App(ctx), idle_timeout_s=config.idle_timeout, host="127.0.0.1", port=args.port)
    )
    freeze_startup_objects()  # as the daemon does at the end of its start-up

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(server.serve())
    queue.close()
    queue.release()
    consumer.join(5.0)
    snapshot = stats.snapshot()
    totals = {
        "msg": "ingest-only stopped",
        "events_received": snapshot.events_received,
        "events_written": snapshot.events_written,  # released, not stored
        "dropped_by_reason": snapshot.dropped_by_reason(),
    }
    print(json.dumps(totals), flush=True)


if __name__ == "__main__":
    main()
