"""The single writer in a process of its own: ``WriterProcess``, with ``BatchWriter``'s contract.

Why a process: in one process the HTTP event loop and the writer thread
share one GIL, and a busy loop keeps a thread that gave the GIL up for
SQLite waiting to get it back; on one core they share the core as well.
Forked off, the writer's rows, SQL and commits run on another core with a
GIL of their own, and the loop keeps its core for the 202s (measured in
docs/benchmarks.md).

Nothing else changes. The queue is the same ``IngestQueue``: a slot is held
from ``offer`` until the child says its event is committed or dropped, so
512 still bounds every event in memory, both processes together, and a
full queue still drops at the door. Batches are still 50 events or 500 ms,
taken by the same rule; control calls (mark pushed, delete, checkpoint)
still run between batches, in order, on the one write connection; only
their functions must pickle (module functions with bound arguments).

In the daemon, two threads carry the traffic: ``oct-writer`` sends what the
queue hands out, ``oct-writer-acks`` reads the answers, replays the child's
counters on ``Stats``, releases slots and resolves calls. Both take all
that is ready at once, so a wait for the GIL is paid per wake-up, not per
batch.

Failure: if the child dies, every batch it had not settled, and every
later one, is counted as a ``write_error`` drop (the books still balance)
and ``/health`` shows the writer dead (a batch it was writing when it died
may have been committed in part: those rows are then in the database but
counted as dropped). If the daemon dies, the child sees its channel
end, finishes the batch at hand and exits.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import signal
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from openclaw_trace.lifecycle import named_target
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.channel import ChannelClosed, ChannelReader, ChannelWriter, pipe
from openclaw_trace.pipeline.queue import IngestQueue, inner_kinds, slots
from openclaw_trace.pipeline.writer import WriterStopped, submit_and_wait
from openclaw_trace.pipeline.writer_child import COUNTER_METHODS, run_child
from openclaw_trace.stats import Stats

log = logging.getLogger("openclaw_trace.writer")

T = TypeVar("T")

START_TIMEOUT_S = 30.0
# Batches handed over in one message at most: 10 × 50 events.
MAX_BATCHES_PER_SEND = 10


class _RemoteCall(Generic[T]):
    """A control task whose function runs in the child; its result arrives in ``future``."""

    def __init__(self, writer: WriterProcess, fn: Callable[[sqlite3.Connection], T], transaction: bool) -> None:
        self.writer = writer
        self.fn = fn
        self.transaction = transaction
        self.future: Future[T] = Future()

    def __call__(self) -> None:
        if self.future.set_running_or_notify_cancel():
            self.writer._send_call(self)

    def cancel(self) -> None:
        if self.future.set_running_or_notify_cancel():
            self.future.set_exception(WriterStopped("the writer stopped before this ran"))


class WriterProcess:
    """Owns the writer process and the two threads that talk to it.

    ``start`` forks the child and waits until it has opened the database;
    ``flush``, ``call`` and ``stop`` behave as ``BatchWriter``'s. ``stop`` is
    idempotent and returns True when the child has exited.
    """

    def __init__(self, db_path: str, queue: IngestQueue, stats: Stats, scrub_secrets: bool = False) -> None:
        self._db_path = db_path
        self._scrub_secrets = scrub_secrets
        self._queue = queue
        self._stats = stats
        self._pid: int | None = None
        self._exit_status: int | None = None
        self._to_child: ChannelWriter | None = None
        self._from_child: ChannelReader | None = None
        self._lock = threading.Lock()  # guards the three below
        self._in_flight: deque[tuple[int, dict[str, int]]] = deque()  # sent, not settled: (slots, kinds)
        self._calls: dict[int, _RemoteCall[Any]] = {}
        self._gone = False  # the child's channel ended: nothing more will be answered
        self._closing = False  # the feeder said "close": the child's end is expected
        self._call_ids = itertools.count(1)
        self._feeder = threading.Thread(target=named_target(self._feed, "oct-writer"), name="oct-writer", daemon=True)
        self._acks = threading.Thread(
            target=named_target(self._read_answers, "oct-writer-acks"), name="oct-writer-acks", daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._pid

    def start(self) -> None:
        """Fork the child and wait until it has the database open; RuntimeError if it does not."""
        to_child_r, to_child_w = pipe()
        from_child_r, from_child_w = pipe()
        # No SIGINT/SIGTERM may reach the daemon's handlers in the child before it
        # ignores them; and objects made so far are frozen out of the collector's
        # passes, so that the child never frees one (its descriptors are closed there).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the daemon's code
            status = 1
            try:
                status = run_child(self._db_path, to_child_r, from_child_w, self._scrub_secrets)
            except BaseException:
                log.exception("writer process failed")
            finally:
                os._exit(status)
        gc.unfreeze()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._pid = pid
        os.close(to_child_r)
        os.close(from_child_w)
        self._to_child = ChannelWriter(to_child_w)
        self._from_child = ChannelReader(from_child_r)
        try:
            first = self._first_answer()
            if first[0] != "ready":
                raise RuntimeError(f"writer process failed to start: {first[1]}")
        except BaseException:
            self._abort_start()
            raise
        self._stats.set_unsynced(first[2])
        self._stats.set_writer_alive(True)
        self._feeder.start()
        self._acks.start()

    def _first_answer(self) -> tuple[Any, ...]:
        assert self._from_child is not None
        try:
            messages = self._from_child.receive(START_TIMEOUT_S)
        except ChannelClosed as exc:
            return ("failed", f"it exited before it was ready ({exc})")
        except TimeoutError:
            return ("failed", f"not ready within {START_TIMEOUT_S:.0f} s")
        answer: tuple[Any, ...] = messages[0]
        return answer

    def _abort_start(self) -> None:
        """After a failed start: no child, no descriptors, and calls refused (WriterStopped)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap(5.0)
        for channel in (self._to_child, self._from_child):
            if channel is not None:
                channel.close()
        self._gone = True
        for task in self._queue.finish():
            task.cancel()

    def flush(self, timeout_s: float) -> bool:
        return self._queue.flush(timeout_s)

    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = 30.0, *, transaction: bool = True) -> T:
        """Run ``fn(conn)`` in the writer process between batches; see ``BatchWriter.call``.

        ``fn`` and its result must pickle. Once handed to the child a call
        is running: a timeout then waits for its real result.
        """
        task: _RemoteCall[T] = _RemoteCall(self, fn, transaction)
        return submit_and_wait(self._queue, task, task.future, timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Drain, tell the child to finish, wait for it; True when it exited within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        self._queue.close()
        # Retries give up after one round from now on. Best effort, never a wait past
        # the deadline: a child that no longer reads hears "close" or nothing at all.
        self._send(("stopping",), timeout_s=min(1.0, timeout_s))
        self._queue.release()
        for thread in (self._feeder, self._acks):
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        return self._reap(max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        return self._acks.is_alive() and not self._gone

    # -- sending (the oct-writer thread) -------------------------------------

    def _feed(self) -> None:
        try:
            while True:
                for task in self._queue.take_controls():
                    task()
                batches = self._queue.take_batches(MAX_BATCHES_PER_SEND)
                if batches:
                    self._send_batches(batches)
                elif self._queue.exhausted():
                    return
        finally:
            for task in self._queue.finish():
                task.cancel()
            self._closing = True
            self._send(("close",))

    def _send_batches(self, batches: list[list[Envelope]]) -> None:
        settle = [(slots(batch), inner_kinds(batch)) for batch in batches]
        with self._lock:
            gone = self._gone
            if not gone:
                self._in_flight.extend(settle)
        if gone:
            for count, kinds in settle:
                self._drop(count, kinds)
            return
        # Plain tuples, rebuilt by the child (``Envelope.from_tuple``): no class
        # reference to pickle per event.
        entries = [
            (count, [envelope.as_tuple() for envelope in batch])
            for (count, _), batch in zip(settle, batches, strict=True)
        ]
        # A failed send means the child is gone: the answer reader, at the end of
        # the child's channel, settles these with the rest of the unanswered.
        self._send(("batches", entries))

    def _send_call(self, task: _RemoteCall[Any]) -> None:
        call_id = next(self._call_ids)
        with self._lock:
            gone = self._gone
            if not gone:
                self._calls[call_id] = task
        if gone:
            task.future.set_exception(WriterStopped("the writer process is gone"))
            return
        try:
            self._send(("call", (call_id, task.fn, task.transaction)))
        except Exception as exc:  # fn does not pickle (a closure): the caller's mistake, not the writer's
            with self._lock:
                mine = self._calls.pop(call_id, None) is not None  # else the child's end settled it
            if mine:
                task.future.set_exception(TypeError(f"a writer process call must pickle: {exc}"))

    def _send(self, message: tuple[Any, ...], timeout_s: float | None = None) -> bool:
        if self._to_child is None:
            return False
        try:
            self._to_child.send(message, timeout_s)
        except (ChannelClosed, TimeoutError):
            return False
        return True

    # -- answers (the oct-writer-acks thread) --------------------------------

    def _read_answers(self) -> None:
        assert self._from_child is not None
        try:
            while True:
                for message in self._from_child.receive():
                    self._on_answer(message)
        except ChannelClosed:
            pass
        except Exception:  # a bug: the writer can no longer be trusted; say so in /health
            log.exception("writer answers could not be read")
            # Nobody reads the child's answers any more: closing them tells it to stop.
            self._from_child.close()
        finally:
            with self._lock:
                self._gone = True
            self._settle_lost()  # after _gone: nothing is added to what it settles
            self._stats.set_writer_alive(False)
            if not self._closing:
                log.error("the writer process ended unexpectedly", extra={"fields": {"pid": self._pid}})

    def _on_answer(self, message: tuple[Any, ...]) -> None:
        tag = message[0]
        self._replay(message[-1])
        if tag == "done":  # one or more batches, in the order they were sent, with their counts
            settled = message[1]
            with self._lock:
                for _ in range(settled):
                    self._in_flight.popleft()
            self._queue.done(message[2])
        elif tag == "health":  # the writer's state while a batch retries
            pass
        elif tag == "result":
            _, call_id, ok, value, _counters = message
            with self._lock:
                task = self._calls.pop(call_id, None)
            if task is not None:
                if ok:
                    task.future.set_result(value)
                else:
                    task.future.set_exception(value)

    def _replay(self, counter_calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        for name, args in counter_calls:
            if name in COUNTER_METHODS:
                getattr(self._stats, name)(*args)

    def _settle_lost(self) -> None:
        """Count what the child will never settle as dropped, and fail the calls it will never answer."""
        with self._lock:
            lost = list(self._in_flight)
            self._in_flight.clear()
            calls = list(self._calls.values())
            self._calls.clear()
        for count, kinds in lost:
            self._drop(count, kinds)
        for task in calls:  # taken out of _calls under the lock: nobody else settles them
            task.future.set_exception(WriterStopped("the writer process is gone"))

    def _drop(self, slot_count: int, kinds: dict[str, int]) -> None:
        for kind, count in kinds.items():
            self._stats.record_dropped(kind, "write_error", count)
        self._queue.done(slot_count)

    # -- the child's exit ------------------------------------------------------

    def _reap(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the child to exit; True once it has."""
        if self._pid is None or self._exit_status is not None:
            return True
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                pid, status = os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored, a second stop)
                pid, status = self._pid, 0
            if pid:
                self._exit_status = os.waitstatus_to_exitcode(status)
                if self._to_child is not None:
                    self._to_child.close()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
