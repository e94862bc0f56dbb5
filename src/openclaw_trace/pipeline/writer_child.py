"""The writer process's side of ``WriterProcess``: the one SQLite write connection, in a process of its own.

It runs in a child forked by the daemon (``run_child``). It reads batches
and control calls from one channel, in the order the daemon's queue gave
them, writes each batch with ``BatchWrites`` (50 events or 500 ms, as the
queue decided), runs each call, and answers on the other channel: a batch
is settled (with the counters it moved), a call has its result.

It never stops on a signal: SIGINT from a terminal and SIGTERM sent to the
whole service (systemd's default) reach every process, and this one must
keep writing while the daemon drains. It stops when the daemon says
``close``, after writing everything sent before it. When its channel ends
without a ``close`` (the daemon died) it finishes the batch at hand and
exits: nobody would count the rest, a kill -9 loses the queue anyway, and a
daemon restarted meanwhile must not meet a second writer for long.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from openclaw_trace.lifecycle import set_os_thread_name
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.batch import FOLD_INTERVAL_S, BatchWrites
from openclaw_trace.pipeline.channel import ChannelClosed, ChannelReader, ChannelWriter
from openclaw_trace.storage import writes
from openclaw_trace.storage.connection import immediate_transaction, open_write_connection

log = logging.getLogger("openclaw_trace.writer")

# Settled batches wait at most this long for more to be answered with them.
ANSWER_DELAY_S = 0.001
# The counters the child may move; the daemon replays exactly these on its Stats.
COUNTER_METHODS = frozenset(
    {
        "record_written",
        "record_dropped",
        "record_write_ok",
        "record_write_failure",
        "count",
        "record_feeds",
        "add_unsynced",
    }
)

Call = tuple[int, Callable[[sqlite3.Connection], Any], bool]  # (call id, fn, in a transaction)


class CounterLog:
    """Stands in for ``Stats`` in the child: records each counter call, to be replayed by the daemon.

    Event counts (written, dropped) travel with the answer of the batch they
    belong to, never earlier: if the child dies mid-batch the daemon counts
    that whole batch as lost, and a count sent ahead would count part of it
    twice. The writer's health (ok, failure) is sent as soon as it changes,
    so that ``/health`` shows a writer that is retrying.
    """

    def __init__(self) -> None:
        self._events: list[tuple[str, tuple[Any, ...]]] = []
        self._health: list[tuple[str, tuple[Any, ...]]] = []

    def record_written(self, kind: str, count: int) -> None:
        self._events.append(("record_written", (kind, count)))

    def record_dropped(self, kind: str, reason: str, count: int = 1) -> None:
        self._events.append(("record_dropped", (kind, reason, count)))

    def count(self, name: str, amount: int = 1) -> None:
        self._events.append(("count", (name, amount)))

    def record_feeds(self, counts: dict[str, int], at_ms: int) -> None:
        self._events.append(("record_feeds", (counts, at_ms)))

    def add_unsynced(self, delta: int) -> None:
        self._events.append(("add_unsynced", (delta,)))

    def record_write_ok(self) -> None:
        # Only the change matters; a run of successes is one call.
        if not self._health or self._health[-1][0] != "record_write_ok":
            self._health.append(("record_write_ok", ()))

    def record_write_failure(self, error: str, db_error: bool) -> None:
        self._health.append(("record_write_failure", (error, db_error)))

    def take_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        events, self._events = self._events, []
        return events

    def take_health(self) -> list[tuple[str, tuple[Any, ...]]]:
        health, self._health = self._health, []
        return health


class Inbox:
    """What the daemon sent, read by a thread of the child (``oct-writer-in``).

    A thread, so that a ``stopping`` message cuts a retry backoff short and
    calls that arrive while a batch retries can be served between tries.
    """

    def __init__(self, reader: ChannelReader) -> None:
        self._reader = reader
        self._lock = threading.Condition()
        self._batches: deque[tuple[int, list[tuple[Any, ...]]]] = deque()
        self._calls: deque[Call] = deque()
        self._ended = False  # nothing more will come
        self.abandoned = False  # the daemon is gone (or this reader failed): nobody will count what is left
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="oct-writer-in", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        set_os_thread_name("oct-writer-in")
        closed = False
        try:
            while not closed:
                for message in self._reader.receive():
                    if not self._take(message):
                        closed = True  # "close": what came before it is still written
                        break
        except ChannelClosed:
            pass
        except Exception:  # a bug: stop, so that the daemon sees this writer end
            log.exception("writer process: reading from the daemon failed")
        finally:
            with self._lock:
                self._ended = True
                self.abandoned = not closed
                self._lock.notify()
            self.stopping.set()  # no more retries than one round from here on

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

    def next(self, timeout_s: float) -> tuple[int, list[Envelope]] | None:
        """Wait up to ``timeout_s`` for work: a batch (slots, envelopes), or None when a call waits, nothing more
        will come, or the time is up."""
        with self._lock:
            if not self._batches and not self._calls and not self._ended:
                self._lock.wait(timeout_s)
            if self._calls or not self._batches or self.abandoned:
                return None
            slot_count, rows = self._batches.popleft()
        return slot_count, [Envelope.from_tuple(row) for row in rows]

    def abandon(self) -> None:
        """The daemon no longer listens: finish the batch at hand, then exit."""
        with self._lock:
            self._ended = self.abandoned = True
            self._lock.notify()
        self.stopping.set()

    def batch_waiting(self) -> bool:
        with self._lock:
            return bool(self._batches) and not self._calls

    def finished(self) -> bool:
        """Nothing more to do: the daemon said close and all is done, or it is gone."""
        with self._lock:
            return self.abandoned or (self._ended and not self._batches and not self._calls)


def run_call(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any], transaction: bool) -> Any:
    if not transaction:
        return fn(conn)
    with immediate_transaction(conn):
        return fn(conn)


def sendable(value: Any) -> Any:
    """``value`` if the daemon can unpickle it, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    except Exception:
        return RuntimeError(f"{type(value).__name__}: {value}"[:1000])
    return value


class ChildWriter:
    """The child's loop: batches and calls in order, each answered."""

    def __init__(self, conn: sqlite3.Connection, inbox: Inbox, outbox: ChannelWriter, scrub_secrets: bool) -> None:
        self._conn = conn
        self._inbox = inbox
        self._outbox = outbox
        self._counters = CounterLog()
        self._writes = BatchWrites(
            conn, self._counters, inbox.stopping, between_retries=self._between_retries, scrub_secrets=scrub_secrets
        )
        # Written, not yet answered: how many batches, their slots and their event counts.
        self._unanswered_batches = 0
        self._unanswered_slots = 0
        self._unanswered_events: list[tuple[str, tuple[Any, ...]]] = []
        self._unanswered_since = 0.0

    def run(self) -> None:
        unsynced = writes.count_unsynced(self._conn, list(writes.TABLES.values()))
        self._writes.start()
        self._outbox.send(("ready", os.getpid(), unsynced))
        while not self._inbox.finished():
            self._run_calls()
            item = self._inbox.next(FOLD_INTERVAL_S)
            if item is None:
                self._fold_rollups()
                continue
            self._write(*item)
            # Settled batches are answered together while more are waiting (up to a
            # time limit), so that the daemon's reader wakes once for several.
            if not self._inbox.batch_waiting() or time.monotonic() - self._unanswered_since >= ANSWER_DELAY_S:
                self._answer_batches()
        self._answer_batches()
        self._fold_rollups(force=True)

    def _write(self, slot_count: int, batch: list[Envelope]) -> None:
        self._writes.settle(batch)
        if not self._unanswered_batches:
            self._unanswered_since = time.monotonic()
        self._unanswered_batches += 1
        self._unanswered_slots += slot_count
        self._unanswered_events += self._counters.take_events()

    def _fold_rollups(self, force: bool = False) -> None:
        """Idle or stopping: fold the rollups if due, and report the counts it moved (no batch will carry them)."""
        self._writes.fold_rollups(force)
        counters = self._counters.take_events() + self._counters.take_health()
        if counters:
            self._answer(("health", counters))

    def _answer_batches(self) -> None:
        if self._unanswered_batches:
            counters = self._counters.take_health() + self._unanswered_events
            self._answer(("done", self._unanswered_batches, self._unanswered_slots, counters))
            self._unanswered_batches = self._unanswered_slots = 0
            self._unanswered_events = []

    def _between_retries(self) -> None:
        """While a batch waits to be retried: answer what is settled, say the writer is failing, serve calls."""
        self._answer_batches()
        health = self._counters.take_health()
        if health:
            self._answer(("health", health))
        self._run_calls()

    def _run_calls(self) -> None:
        calls = self._inbox.take_calls()
        if calls:
            self._answer_batches()  # a call's answer never overtakes the batches before it
        for call_id, fn, transaction in calls:
            try:
                ok, value = True, run_call(self._conn, fn, transaction)
            except Exception as exc:
                ok, value = False, exc
            safe = sendable(value)
            ok = ok and safe is value  # a result that cannot travel is an error of the call
            self._answer(("result", call_id, ok, safe, self._counters.take_health()))

    def _answer(self, message: tuple[Any, ...]) -> None:
        try:
            self._outbox.send(message)
        except ChannelClosed:  # the daemon is gone, or no longer reads: stop writing for nobody
            self._inbox.abandon()


def run_child(db_path: str, inbox_fd: int, outbox_fd: int, scrub_secrets: bool = False) -> int:
    """The writer process's whole life; returns its exit status. Called right after ``fork``."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # The daemon blocked them around the fork, so that none reached its handlers here.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
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
        ChildWriter(conn, Inbox(ChannelReader(inbox_fd)), outbox, scrub_secrets).run()
    finally:
        conn.close()
    return 0
