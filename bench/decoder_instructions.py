"""The OTLP decoder's work per span, in instructions, for protobuf and OTLP/JSON requests.

The decoder process (``otlp/decoder.py``) turns each export request into
its events: decode, map, validate, and encode the answer for the daemon.
That is ``requests.encode_mapped``; this runs it under ``valgrind
--tool=callgrind`` on the benchmark's request of 50 GenAI spans
(``payloads.otlp_spans_body``), a short and a long run, and divides the
difference in instructions by the difference in spans. Like
``bench.instructions`` it counts work, not time, so a drifting VM cannot
move it: the figure to watch when the decoder changes (the pipes' system
calls are not in it).

    .venv/bin/python -m bench.decoder_instructions        # ~30 s; needs valgrind

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
from pathlib import Path

from bench import payloads
from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.requests import encode_mapped

SPANS_PER_REQUEST = 50
ENCODINGS = ("protobuf", "json")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def decode_requests(encoding: str, requests: int) -> None:
    """The measured work: ``requests`` decodings of one 50-span export request."""
    body = payloads.otlp_spans_body(SPANS_PER_REQUEST, encoding)
    limits = EventLimits()
    encode_mapped("traces", encoding, body, 0, limits)  # type: ignore[arg-type]  # the first one imports lazily
    for _ in range(requests):
        encode_mapped("traces", encoding, body, 0, limits)  # type: ignore[arg-type]


def count(valgrind: str, encoding: str, requests: int, work_dir: Path) -> int:
    """All instructions of a child decoding ``requests`` requests, start-up included."""
    child = [sys.executable, "-m", "bench.decoder_instructions", "--child", str(requests), "--encoding", encoding]
    # A fixed hash seed and a small fixed environment: the same count every run.
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parent.parent)}
    run = subprocess.run(
        [valgrind, "--tool=callgrind", f"--callgrind-out-file={work_dir / 'callgrind.out'}", *child],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = _COLLECTED.search(run.stderr)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"the decoder under valgrind failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decoder_instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=10, help="requests in the short run (default 10)")
    parser.add_argument("--long", type=int, default=60, help="requests in the long run (default 60)")
    parser.add_argument("--child", type=int, metavar="REQUESTS", help=argparse.SUPPRESS)
    parser.add_argument("--encoding", choices=ENCODINGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        decode_requests(args.encoding, args.child)
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("bench.decoder_instructions: valgrind is missing (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    decode_requests("json", 1)  # outside valgrind first: no module compiled during the short run only
    print("| the OTLP decoder, a request of 50 GenAI spans | instructions per span |")
    print("|---|---|")
    with tempfile.TemporaryDirectory(prefix="oct-decoder-instructions-") as tmp:
        for encoding in ENCODINGS:
            short = count(valgrind, encoding, args.short, Path(tmp))
            long = count(valgrind, encoding, args.long, Path(tmp))
            per_span = (long - short) / ((args.long - args.short) * SPANS_PER_REQUEST)
            print(f"| {encoding} | {per_span:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
