"""The single writer: the only thread that writes to SQLite.

It takes batches from the ``IngestQueue`` (50 events or 500 ms) and writes
them (``pipeline.batch``). Between batches it runs *control tasks*: work
that other parts need done on the one write connection — the pusher marking
rows pushed, upkeep deleting old rows, a checkpoint. Those come through
``call`` and never share the droppable data path.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, Protocol, TypeVar

from openclaw_trace.lifecycle import named_target
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.batch import BatchWrites
from openclaw_trace.pipeline.queue import BATCH_MAX_EVENTS, ControlTask, IngestQueue, slots
from openclaw_trace.stats import Stats
from openclaw_trace.storage import writes
from openclaw_trace.storage.connection import immediate_transaction

log = logging.getLogger("openclaw_trace.writer")

T = TypeVar("T")


class WriterStopped(RuntimeError):
    """The writer has finished; it takes no more work."""


class Writer(Protocol):
    """The single writer, as the daemon's parts see it: ``BatchWriter`` or ``WriterProcess``."""

    def start(self) -> None: ...

    def flush(self, timeout_s: float) -> bool: ...

    def call(
        self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = 30.0, *, transaction: bool = True
    ) -> T: ...

    def stop(self, timeout_s: float) -> bool: ...

    @property
    def alive(self) -> bool: ...


class _Call(Generic[T]):
    """One ``BatchWriter.call``: runs ``fn(conn)`` on the writer thread, result in a future."""

    def __init__(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], transaction: bool) -> None:
        self.conn = conn
        self.fn = fn
        self.transaction = transaction
        self.future: Future[T] = Future()

    def __call__(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            if not self.transaction:
                self.future.set_result(self.fn(self.conn))
                return
            with immediate_transaction(self.conn):
                result = self.fn(self.conn)
            self.future.set_result(result)
        except Exception as exc:
            self.future.set_exception(exc)

    def cancel(self) -> None:
        if self.future.set_running_or_notify_cancel():
            self.future.set_exception(WriterStopped("the writer stopped before this ran"))


def submit_and_wait(queue: IngestQueue, task: ControlTask, future: Future[T], timeout_s: float) -> T:
    """Hand ``task`` to the writer and wait up to ``timeout_s`` for its ``future``.

    Not run yet at the timeout: cancelled, so it never runs behind the
    caller's back, and ``TimeoutError``. Already running: it will finish;
    wait for it rather than lie.
    """
    if not queue.submit(task):
        raise WriterStopped("the writer has stopped")
    try:
        return future.result(timeout_s)
    except TimeoutError:
        if future.cancel():
            raise
        return future.result()


class BatchWriter:
    """Owns the write connection and the ``oct-writer`` thread.

    ``start`` once; ``flush`` waits for everything offered so far; ``call``
    runs a function on the write connection and waits for its result;
    ``stop`` closes the queue, lets the thread drain it (control tasks
    included) and joins. ``stop`` is idempotent. After ``stop`` the
    connection belongs to the caller again (for the final checkpoint).
    """

    def __init__(self, conn: sqlite3.Connection, queue: IngestQueue, stats: Stats, scrub_secrets: bool = False) -> None:
        self._conn = conn
        self._queue = queue
        self._stats = stats
        self._stopping = threading.Event()
        self._writes = BatchWrites(
            conn,
            stats,
            self._stopping,
            between_retries=self._run_controls,
            scrub_secrets=scrub_secrets,
            before_insert=self._yield_if_keeping_up,
        )
        self._thread = threading.Thread(target=named_target(self._run, "oct-writer"), name="oct-writer", daemon=True)

    def start(self) -> None:
        self._stats.set_unsynced(writes.count_unsynced(self._conn, list(writes.TABLES.values())))
        self._writes.start()
        self._stats.set_writer_alive(True)
        self._thread.start()

    def flush(self, timeout_s: float) -> bool:
        return self._queue.flush(timeout_s)

    def call(self, fn: Callable[[sqlite3.Connection], T], timeout_s: float = 30.0, *, transaction: bool = True) -> T:
        """Run ``fn(conn)`` on the writer thread between batches and return its result.

        Blocks the caller (never the writer) up to ``timeout_s``. With
        ``transaction`` the call is one ``BEGIN IMMEDIATE … COMMIT`` (rolled
        back if ``fn`` raises); without, ``fn`` runs bare (for PRAGMAs such as
        checkpoints that refuse to run inside a transaction). Raises what
        ``fn`` raised, ``TimeoutError``, or ``WriterStopped``.
        """
        task = _Call(self._conn, fn, transaction)
        return submit_and_wait(self._queue, task, task.future, timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Drain and stop; True when the thread ended within ``timeout_s``."""
        self._queue.close()
        self._stopping.set()
        self._queue.release()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _yield_if_keeping_up(self) -> None:
        # Building a batch's rows and binding them are one stretch with the GIL held
        # (~0.4 ms here), and a request that arrives meanwhile waits it out: at 1,000
        # events/s that was most of the 202's p99. Giving the GIL up between the two
        # halves the stretch. Only while less than a batch waits: behind a flood, the
        # thread could wait for the GIL again, and there throughput comes first.
        if self._queue.backlog() < BATCH_MAX_EVENTS:
            time.sleep(0)

    def _run_controls(self) -> None:
        for task in self._queue.take_controls():
            task()

    def _run(self) -> None:
        try:
            while True:
                self._run_controls()
                batch = self._queue.take_batch()
                if batch:
                    self._write(batch)
                elif self._queue.exhausted():
                    self._writes.fold_rollups(force=True)
                    return
                else:
                    self._writes.fold_rollups()
        finally:
            for task in self._queue.finish():
                task.cancel()
            self._stats.set_writer_alive(False)

    def _write(self, batch: list[Envelope]) -> None:
        try:
            self._writes.settle(batch)
        finally:
            self._queue.done(slots(batch))
