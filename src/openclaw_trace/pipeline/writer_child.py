"""The writer process's side of ``WriterProcess``: the one SQLite write connection, in a process of its own.

It runs in a child forked by the daemon (``run_child``). It reads batches
and control calls from one channel, in the order the daemon's queue gave
them, writes each batch with ``BatchWrites`` (50 events or 500 ms, as the
queue decided), runs each call, and answers on the other channel: a batch
is settled (with the counters it moved), a call has its result.

It never stops on a signal: SIGINT from a terminal and SIGTERM sent to the
whole service (systemd's default) reach every process, and this one must
keep writing while the daemon drains. It stops when the daemon says
``close`` or when its channel ends (the daemon died), after settling
everything it received.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from openclaw_trace.lifecycle import set_os_thread_name
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.batch import BatchWrites
from openclaw_trace.pipeline.channel import ChannelClosed, ChannelReader, ChannelWriter
from openclaw_trace.storage import writes
from openclaw_trace.storage.connection import immediate_transaction, open_write_connection

log = logging.getLogger("openclaw_trace.writer")

# Settled batches wait at most this long for more to be answered with them.
ANSWER_DELAY_S = 0.001
# The counters the child may move; the daemon replays exactly these on its Stats.
COUNTER_METHODS = frozenset({"record_written", "record_dropped", "record_write_ok", "record_write_failure"})

Call = tuple[int, Callable[[sqlite3.Connection], Any], bool]  # (call id, fn, in a transaction)


class CounterLog:
    """Stands in for ``Stats`` in the child: records each counter call, to be replayed by the daemon."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, tuple[Any, ...]]] = []

    def record_written(self, kind: str, count: int) -> None:
        self._calls.append(("record_written", (kind, count)))

    def record_dropped(self, kind: str, reason: str, count: int = 1) -> None:
        self._calls.append(("record_dropped", (kind, reason, count)))

    def record_write_ok(self) -> None:
        # Only the change matters; a run of successes is one call.
        if not self._calls or self._calls[-1][0] != "record_write_ok":
            self._calls.append(("record_write_ok", ()))

    def record_write_failure(self, error: str, db_error: bool) -> None:
        self._calls.append(("record_write_failure", (error, db_error)))

    def take(self) -> list[tuple[str, tuple[Any, ...]]]:
        calls, self._calls = self._calls, []
        return calls


class Inbox:
    """What the daemon sent, read by a thread of the child (``oct-writer-in``).

    A thread, so that a ``stopping`` message cuts a retry backoff short and
    calls that arrive while a batch retries can be served between tries.
    """

    def __init__(self, reader: ChannelReader) -> None:
        self._reader = reader
        self._lock = threading.Condition()
        self._batches: deque[tuple[int, list[Envelope]]] = deque()
        self._calls: deque[Call] = deque()
        self._ended = False
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="oct-writer-in", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        set_os_thread_name("oct-writer-in")
        try:
            while True:
                for message in self._reader.receive():
                    if not self._take(message):
                        return
        except ChannelClosed:
            self.stopping.set()  # the daemon is gone: one round of retries, then give up
        finally:
            with self._lock:
                self._ended = True
                self._lock.notify()

    def _take(self, message: tuple[Any, ...]) -> bool:
        tag = message[0]
        if tag == "stopping":
            self.stopping.set()
            return True
        if tag == "close":
            return False
        with self._lock:
            if tag == "batches":
                self._batches.extend(message[1])
            elif tag == "call":
                self._calls.append(message[1])
            else:
                log.error("writer process: unknown message %r", tag)
            self._lock.notify()
        return True

    def take_calls(self) -> list[Call]:
        with self._lock:
            calls = list(self._calls)
            self._calls.clear()
            return calls

    def next(self) -> tuple[int, list[Envelope]] | None:
        """Wait for work: a batch (slots, envelopes), or None when a call waits or nothing more will come."""
        with self._lock:
            while not self._batches and not self._calls and not self._ended:
                self._lock.wait()
            if self._calls or not self._batches:
                return None
            slot_count, rows = self._batches.popleft()
        return slot_count, [Envelope._make(row) for row in rows]

    def batch_waiting(self) -> bool:
        with self._lock:
            return bool(self._batches) and not self._calls

    def finished(self) -> bool:
        with self._lock:
            return self._ended and not self._batches and not self._calls


def run_call(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any], transaction: bool) -> Any:
    if not transaction:
        return fn(conn)
    with immediate_transaction(conn):
        return fn(conn)


class ChildWriter:
    """The child's loop: batches and calls in order, each answered."""

    def __init__(self, conn: sqlite3.Connection, inbox: Inbox, outbox: ChannelWriter) -> None:
        self._conn = conn
        self._inbox = inbox
        self._outbox = outbox
        self._counters = CounterLog()
        self._writes = BatchWrites(conn, self._counters, inbox.stopping, between_retries=self._run_calls)
        self._unanswered_batches = 0  # written, not yet answered
        self._unanswered_slots = 0
        self._unanswered_since = 0.0

    def run(self) -> None:
        unsynced = writes.count_unsynced(self._conn, list(writes.TABLES.values()))
        self._outbox.send(("ready", os.getpid(), unsynced))
        while True:
            self._run_calls()
            item = self._inbox.next()
            if item is not None:
                self._write(*item)
                # Settled batches are answered together while more are waiting (up to a
                # time limit), so that the daemon's reader wakes once for several.
                if not self._inbox.batch_waiting() or time.monotonic() - self._unanswered_since >= ANSWER_DELAY_S:
                    self._answer_batches()
            elif self._inbox.finished():
                return

    def _write(self, slot_count: int, batch: list[Envelope]) -> None:
        self._writes.settle(batch)
        if not self._unanswered_batches:
            self._unanswered_since = time.monotonic()
        self._unanswered_batches += 1
        self._unanswered_slots += slot_count

    def _answer_batches(self) -> None:
        if self._unanswered_batches:
            self._answer(("done", self._unanswered_batches, self._unanswered_slots, self._counters.take()))
            self._unanswered_batches = self._unanswered_slots = 0

    def _run_calls(self) -> None:
        calls = self._inbox.take_calls()
        if calls:
            self._answer_batches()  # a call's answer never overtakes the batches before it
        for call_id, fn, transaction in calls:
            try:
                answer: tuple[Any, ...] = ("result", call_id, True, run_call(self._conn, fn, transaction))
            except Exception as exc:
                answer = ("result", call_id, False, exc)
            self._answer((*answer, self._counters.take()))

    def _answer(self, message: tuple[Any, ...]) -> None:
        try:
            self._outbox.send(message)
        except ChannelClosed:
            pass  # the daemon is gone; what was committed stays committed
        except Exception as exc:  # a result that cannot be pickled: say so instead
            if message[0] == "result":
                self._outbox.send(("result", message[1], False, TypeError(f"unsendable result: {exc}"), message[-1]))
            else:
                raise


def run_child(db_path: str, inbox_fd: int, outbox_fd: int) -> int:
    """The writer process's whole life; returns its exit status. Called right after ``fork``."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # The fork copied every descriptor of the daemon: the listening socket (a
    # lingering child would hold the port), the daemon's own ends of the two
    # pipes (the child would never see the daemon die) and its database file.
    # Keep only stdio and this process's two ends.
    keep = {0, 1, 2, inbox_fd, outbox_fd}
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):  # the directory's own descriptor, already gone
                os.close(fd)
    set_os_thread_name("oct-writer")
    outbox = ChannelWriter(outbox_fd)
    try:
        conn = open_write_connection(db_path)
        # Checkpoints are the daemon's checkpointer's, never a commit's.
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except (sqlite3.Error, OSError) as exc:
        outbox.send(("failed", f"cannot open {db_path}: {exc}"))
        return 1
    try:
        ChildWriter(conn, Inbox(ChannelReader(inbox_fd)), outbox).run()
    finally:
        conn.close()
    return 0
