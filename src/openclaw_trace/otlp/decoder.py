"""OTLP export requests decoded and mapped in a process of their own.

Why: decoding and mapping a request of 50 spans is about a millisecond of
Python. On the event loop it holds the GIL the writer thread needs back
after each SQLite call, so under OTLP load the writer starved while the
loop decoded, the queue filled and exporters were answered 503
(docs/benchmarks.md). Here the loop only hands the body over and awaits
the events: the decoding runs on another core, under another GIL.

``OtlpDecoder`` (in the daemon) starts the child at the first export
request, so a daemon that never sees OTLP never has it, and again after
the child has died; until the child says it is ready (its imports take
~0.1 s) the endpoints decode on the loop as before. Requests and answers are length-prefixed frames on
the child's stdin and stdout; answers carry the request's number, so many
requests can wait at once. If the child dies, the requests it held fail
with ``DecoderUnavailable`` (the endpoint answers 503 with Retry-After, and
the exporter sends them again). The child exits when its stdin closes: at
the daemon's stop, or when the daemon dies.

    python -m openclaw_trace.otlp.decoder MAX_TEXT_BYTES [PRICES_FILE]   (the child)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import signal
import struct
import sys
import traceback
from typing import BinaryIO

import msgspec

from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.decode import Encoding
from openclaw_trace.otlp.requests import Mapped, Signal, decode_mapped, encode_mapped
from openclaw_trace.otlp.values import MappingResult
from openclaw_trace.pricing import load_prices

log = logging.getLogger("openclaw_trace.otlp")

_FRAME = struct.Struct(">II")  # request number, length of what follows
STOP_TIMEOUT_S = 5.0
# The child must never wait for the loop to take its answers (~70 KB per 50 spans): with
# 64 KB pipes and asyncio's 64 KB reader limit it spent most of its time blocked writing.
PIPE_BYTES = 1 << 20
ANSWERS_BUFFERED_BYTES = 4 << 20


class DecoderUnavailable(Exception):
    """The decoder process died or could not start; the request may be sent again."""


class _Request(msgspec.Struct, array_like=True, gc=False):
    signal: Signal
    encoding: Encoding
    received_at_ms: int
    body: bytes


class OtlpDecoder:
    """The decoder process, seen from the event loop. Not thread-safe: the loop's only."""

    def __init__(self, max_text_bytes: int, prices_file: str | None) -> None:
        self._argv = [sys.executable, "-m", __name__, str(max_text_bytes), prices_file or ""]
        self._process: asyncio.subprocess.Process | None = None
        self._last_child: asyncio.subprocess.Process | None = None  # for exit_code
        self._starting: asyncio.Future[asyncio.subprocess.Process] | None = None
        self._reader: asyncio.Future[None] | None = None
        self._waiting: dict[int, asyncio.Future[Mapped]] = {}
        self._next_number = 0
        self._encoder = msgspec.msgpack.Encoder()
        self.starts = 0  # in /health: more than one means the child died and was started again

    @property
    def running(self) -> bool:
        """Started and not known to have died: ``map`` will not wait for a start."""
        return self._process is not None

    @property
    def exit_code(self) -> int | None:
        """The exit code of the child started last, once it has been reaped; None while it runs or before any."""
        return self._last_child.returncode if self._last_child is not None else None

    def start_soon(self) -> None:
        """Start the child in the background, unless it runs or is starting (the loop's thread only)."""
        if self._process is None and self._starting is None:
            self._starting = asyncio.ensure_future(self._spawn())
            self._starting.add_done_callback(self._started)

    def _started(self, starting: asyncio.Future[asyncio.subprocess.Process]) -> None:
        if self._starting is starting:
            self._starting = None
        if not starting.cancelled() and starting.exception() is not None:
            log.warning("the OTLP decoder did not start: %s", starting.exception())

    async def map(self, signal: Signal, encoding: Encoding, body: bytes, received_at_ms: int) -> MappingResult:
        """The request's events (``OtlpDecodeError`` when its body does not decode)."""
        process = self._process or await self._start()
        if self._process is not process:  # it died since: its reader has failed what it held already
            raise DecoderUnavailable("the OTLP decoder exited; retry later")
        # From here to the registration nothing is awaited: a death after it fails this one too.
        self._next_number = number = (self._next_number + 1) % 2**32
        answer: asyncio.Future[Mapped] = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        payload = self._encoder.encode(_Request(signal, encoding, received_at_ms, body))
        assert process.stdin is not None
        try:
            process.stdin.write(_FRAME.pack(number, len(payload)))
            process.stdin.write(payload)
            await process.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:  # RuntimeError: the pipe's transport is closed
            self._waiting.pop(number, None)
            raise DecoderUnavailable(f"the OTLP decoder is gone: {exc}") from None
        return (await answer).result()

    async def _start(self) -> asyncio.subprocess.Process:
        self.start_soon()
        starting = self._starting  # shared by the requests that arrive while the child starts
        assert starting is not None  # asked only while no child runs, with nothing awaited since
        return await asyncio.shield(starting)  # a request given up does not cancel the start

    async def _spawn(self) -> asyncio.subprocess.Process:
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=ANSWERS_BUFFERED_BYTES // 2,  # the reader stops reading past twice its limit
            )
        except OSError as exc:
            raise DecoderUnavailable(f"cannot start the OTLP decoder: {exc}") from None
        self._last_child = process
        assert process.stdout is not None
        try:  # its first frame, empty, once its imports are done and its settings read
            await process.stdout.readexactly(_FRAME.size)
        except (asyncio.IncompleteReadError, ConnectionError):
            code = await _ended(process)
            raise DecoderUnavailable(f"the OTLP decoder exited at its start (code {code})") from None
        self.starts += 1
        self._process = process
        self._reader = asyncio.ensure_future(self._read_answers(process))  # held: the loop keeps only a weak one
        return process

    async def _read_answers(self, process: asyncio.subprocess.Process) -> None:
        stdout = process.stdout
        assert stdout is not None
        try:
            while True:
                number, length = _FRAME.unpack(await stdout.readexactly(_FRAME.size))
                answer = decode_mapped(await stdout.readexactly(length))
                waiting = self._waiting.pop(number, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, msgspec.DecodeError):
            pass  # the child ended (or said something unreadable: then it is ended below)
        # At once, before anything is awaited: what waits now was sent to this child, and a
        # request from here on starts another.
        if self._process is process:
            self._process = None
        held, self._waiting = self._waiting, {}
        for waiting in held.values():
            if not waiting.done():
                waiting.set_exception(DecoderUnavailable("the OTLP decoder exited; retry later"))
        code = await _ended(process)
        if held or code != 0:
            log.warning("the OTLP decoder exited (code %s) holding %d requests", code, len(held))

    async def stop(self) -> None:
        """Close the child's input and wait for it to exit (killed after ``STOP_TIMEOUT_S``).

        A child still starting is let finish its start first: left behind, it
        would outlive the loop that holds its pipes.
        """
        starting = self._starting
        if starting is not None:
            with contextlib.suppress(DecoderUnavailable, TimeoutError):
                await asyncio.wait_for(asyncio.shield(starting), STOP_TIMEOUT_S)
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        await _ended(process)

    def health(self) -> dict[str, object]:
        process = self._process
        return {"running": process is not None, "pid": process.pid if process else None, "starts": self.starts}


async def _ended(process: asyncio.subprocess.Process) -> int:
    """Its exit code once it has exited, killed if it has not within ``STOP_TIMEOUT_S``.

    Killed only then: a kill asks the child's ``Popen`` first whether it is
    still there, which reaps a child that has just exited under the loop's
    watcher (which then reports 255).
    """
    try:
        return await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        return await process.wait()


def serve(limits: EventLimits, requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: one request in, its events out, until the input ends."""
    decoder = msgspec.msgpack.Decoder(_Request)
    while header := requests.read(_FRAME.size):
        if len(header) < _FRAME.size:
            return
        number, length = _FRAME.unpack(header)
        request = decoder.decode(requests.read(length))
        try:
            answer = encode_mapped(request.signal, request.encoding, request.body, request.received_at_ms, limits)
        except Exception:  # a bug: said as a failure (the endpoint answers 500), logged, and on to the next
            traceback.print_exc(file=sys.stderr)
            answer = msgspec.msgpack.encode(Mapped(failure="the OTLP decoder failed; see the daemon log"))
        answers.write(_FRAME.pack(number, len(answer)))
        answers.write(answer)
        answers.flush()


def widen_pipe(fd: int) -> None:
    """Room for a dozen requests or answers in the pipe (64 KB by default, one 50-span request)."""
    with contextlib.suppress(OSError, AttributeError):  # Linux pipes only; at most /proc/sys/fs/pipe-max-size
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def main(argv: list[str]) -> int:
    # Ctrl-C and the service manager's TERM are the daemon's to act on: it drains,
    # then closes this process's input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    prices_file = argv[1] if len(argv) > 1 and argv[1] else None
    limits = EventLimits(max_text_bytes=int(argv[0]), prices=load_prices(prices_file))
    gc.freeze()  # the modules just imported: never scanned again
    widen_pipe(sys.stdin.fileno())
    widen_pipe(sys.stdout.fileno())
    sys.stdout.buffer.write(_FRAME.pack(0, 0))  # ready
    sys.stdout.buffer.flush()
    serve(limits, sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
