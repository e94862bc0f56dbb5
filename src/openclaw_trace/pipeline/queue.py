"""The bounded ingest queue between producers and the single writer.

A slot is held from ``offer`` until the writer calls ``done`` for it, that
is until the event is committed or counted as dropped. So ``capacity`` (512)
bounds every event held in memory, including the batch the writer is
writing: with the writer stuck, exactly ``capacity`` events are held and the
rest are counted as ``queue_full`` drops.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from openclaw_trace.model import Envelope
from openclaw_trace.stats import Stats

QUEUE_CAPACITY = 512
BATCH_MAX_EVENTS = 50
BATCH_WINDOW_S = 0.5
BUNDLE = "bundle"  # an envelope whose values are (inner envelopes, statements): one transaction


class ControlTask(Protocol):
    """Work for the writer thread between batches (see ``BatchWriter.call``)."""

    def __call__(self) -> None: ...

    def cancel(self) -> None: ...


def slot_count(envelope: Envelope) -> int:
    """Queue slots one envelope holds: one per event, a bundle's inner events included.

    A bundle without events (a read position alone) still holds one slot, so
    that ``flush`` waits for it too.
    """
    return max(1, len(envelope.values[0])) if envelope.kind == BUNDLE else 1


def slots(envelopes: Sequence[Envelope]) -> int:
    """Queue slots ``envelopes`` hold (``slot_count`` of each)."""
    for envelope in envelopes:
        if envelope.kind == BUNDLE:
            return sum(map(slot_count, envelopes))
    return len(envelopes)


def inner_kinds(envelopes: Sequence[Envelope]) -> dict[str, int]:
    """Event counts by kind, looking inside bundles."""
    # Once per batch on the writer: a batch is nearly always of one plain kind, which
    # list comprehension and count() tell in C, at a third of the loop below.
    kind_list = [envelope.kind for envelope in envelopes]
    if kind_list and kind_list[0] != BUNDLE and kind_list.count(kind_list[0]) == len(kind_list):
        return {kind_list[0]: len(kind_list)}
    kinds: dict[str, int] = {}
    for envelope in envelopes:
        if envelope.kind == BUNDLE:
            for inner in envelope.values[0]:
                kinds[inner.kind] = kinds.get(inner.kind, 0) + 1
        else:
            kinds[envelope.kind] = kinds.get(envelope.kind, 0) + 1
    return kinds


class IngestQueue:
    """Producers ``offer``; one consumer takes batches and calls ``done``.

    Thread-safe. ``offer``/``offer_many`` never block (one short lock) and
    never raise: a full or closed queue counts the event as dropped
    (``queue_full`` / ``shutdown``) and returns; past half full an offer also
    lets another thread take the GIL once (``time.sleep(0)``: no wait on
    anything). After ``close`` every offer is refused, and ``take_batch``
    hands out what is left without waiting. The queue's lock is the
    counters' (``Stats.lock``), and the consumer is woken once per batch
    (``_add``).
    """

    def __init__(
        self,
        stats: Stats,
        capacity: int = QUEUE_CAPACITY,
        batch_max_events: int = BATCH_MAX_EVENTS,
        batch_window_s: float = BATCH_WINDOW_S,
    ) -> None:
        self._stats = stats
        self._capacity = capacity
        # Past this depth a producer gives up the GIL once per offer (see offer_many).
        self._yield_depth = capacity // 2
        self._batch_max = batch_max_events
        self._window_s = batch_window_s
        # The counters' lock: an offer queues and counts its events in one acquire.
        self._lock = stats.lock
        self._ready = threading.Condition(self._lock)  # a batch is due, or closed
        self._drained = threading.Condition(self._lock)  # outstanding fell to 0
        # A list, not a deque: a batch leaves as one slice (C), where 50 poplefts were
        # a Python loop on the writer's GIL time; it never holds more than capacity.
        self._items: list[Envelope] = []
        self._waiting = 0  # slots of the envelopes in _items: the events a batch would take
        self._first_at = 0.0  # monotonic time the oldest waiting event was offered (about)
        # The consumer waits without a timeout only after a whole window without
        # events; only then does the first event of a batch need to wake it.
        self._idle = False
        self._outstanding = 0  # offered and not yet done: queued + being written
        self._closed = False
        self._flush_waiters = 0  # while > 0 the writer skips the batch window
        # Control tasks (mark pushed, delete old rows, checkpoint …) run on the
        # writer between batches. They live apart from the data: never dropped,
        # never counted against the capacity.
        self._control: deque[ControlTask] = deque()
        self._finished = False
        # Closing stops intake; the writer still serves control tasks (the
        # pusher's final push marks rows) until it is released by its stop().
        self._released = False

    @property
    def capacity(self) -> int:
        return self._capacity

    def depth(self) -> int:
        """Events accepted and not yet committed or dropped."""
        with self._lock:
            return self._outstanding

    def backlog(self) -> int:
        """Events waiting for a batch, read without the lock: a hint, exact only between writes."""
        return self._waiting

    def offer(self, envelope: Envelope) -> bool:
        return self.offer_many((envelope,)) == 1

    def offer_many(self, envelopes: Sequence[Envelope]) -> int:
        """Queue as many of ``envelopes`` as fit; return how many were queued.

        All envelopes of one call must share one kind (one request's events).
        """
        count = len(envelopes)
        if count == 0:
            return 0
        kind = envelopes[0].kind
        # acquire/release, not ``with``: on Python 3.11 the with statement costs as
        # much again as the rest of an offer, which runs once per request.
        self._lock.acquire()
        try:
            if self._closed:
                accepted, reason = 0, "shutdown"
            else:
                free = self._capacity - self._outstanding
                accepted, reason = (count if count <= free else free), "queue_full"
                if accepted > 0:
                    self._add(envelopes if accepted == count else envelopes[:accepted], accepted)
            received = self._stats.received  # record_received_locked, one call fewer
            try:
                received[kind] += count
            except KeyError:
                received[kind] = count
            if accepted < count:
                self._stats.record_dropped_locked(kind, reason, count - accepted)
            deep = self._outstanding > self._yield_depth
        finally:
            self._lock.release()
        if deep:
            # Over half full means the writer is behind. A producer that is a busy event
            # loop would otherwise keep the GIL and starve the writer thread of it (see
            # docs/benchmarks.md): give it up once, which waits for nothing.
            time.sleep(0)
        return accepted

    def _add(self, envelopes: Sequence[Envelope], count: int) -> None:
        """Queue ``envelopes`` (``count`` slots) and wake the consumer if it waits for them (lock held).

        The consumer is woken when a batch fills, and by the first event only
        when it is idle. Otherwise it is already waiting with a timeout, and
        finds the first event's time in ``_first_at`` when it wakes: a wake-up
        costs the busy producer its GIL, so one batch costs one wake-up.
        """
        before = self._waiting
        if before == 0:
            self._first_at = time.monotonic()
        self._items.extend(envelopes)
        self._outstanding += count
        self._waiting += count
        if (before == 0 and self._idle) or before < self._batch_max <= self._waiting:
            self._ready.notify()

    def offer_all(self, envelopes: Sequence[Envelope]) -> bool:
        """Queue every one of ``envelopes`` or none of them; never blocks.

        For senders that retry (OTLP exporters): when the queue cannot take
        the whole request it is refused, nothing is counted as received or
        dropped, and the caller answers "retry later". Kinds may be mixed.
        """
        count = len(envelopes)
        needed = slots(envelopes)
        kinds = inner_kinds(envelopes)
        with self._lock:
            taken = not self._closed and self._capacity - self._outstanding >= needed
            if taken:
                if count:
                    self._add(envelopes, needed)
                for kind, kind_count in kinds.items():
                    self._stats.record_received_locked(kind, kind_count)
            deep = self._outstanding > self._yield_depth
        if deep:
            time.sleep(0)  # the writer is behind: let it have the GIL once, as ``offer_many`` does
        return taken

    def submit(self, task: ControlTask) -> bool:
        """Hand the writer a control task; False once the writer has finished."""
        with self._lock:
            if self._finished:
                return False
            self._control.append(task)
            self._ready.notify()
            return True

    def take_controls(self) -> list[ControlTask]:
        with self._lock:
            tasks = list(self._control)
            self._control.clear()
            return tasks

    def finish(self) -> list[ControlTask]:
        """Called by the writer as it exits: refuse further tasks, return the unrun ones."""
        with self._lock:
            self._finished = True
            tasks = list(self._control)
            self._control.clear()
            return tasks

    def release(self) -> None:
        """Let the consumer finish once the queue is closed and empty. Idempotent."""
        with self._lock:
            self._released = True
            self._ready.notify_all()

    def exhausted(self) -> bool:
        """Closed and released, with no event and no control task left."""
        with self._lock:
            return self._closed and self._released and not self._items and not self._control

    def take_batch(self) -> list[Envelope]:
        """Block until a batch is due; return it, or [] when a control task waits or the queue is done.

        Once closed but not yet released, an empty queue waits for control
        tasks instead of returning, so the writer serves them until its stop.

        A batch is due when ``batch_max_events`` are waiting, when the first
        waiting event was offered ``batch_window_s`` ago, when a ``flush`` is
        waiting, or when the queue is closed. The events keep their slots
        until ``done``.
        """
        batches = self.take_batches(1)
        return batches[0] if batches else []

    def take_batches(self, max_batches: int) -> list[list[Envelope]]:
        """``take_batch``, then as many more as are due already, up to ``max_batches`` in all.

        For a consumer whose every wake-up costs (a thread that waits for the
        GIL behind a busy event loop): it takes what is due in one go. The
        extra batches are full ones, or the rest once closed or flushed.
        """
        with self._lock:
            quiet_windows = 0
            while not self._items and not self._control and not (self._closed and self._released):
                # Busy lately: wait a window for events without asking to be woken by
                # the first one. A whole window without any: idle, woken by the first.
                self._idle = quiet_windows > 0
                if not self._ready.wait(None if self._idle else self._window_s):
                    quiet_windows += 1
            self._idle = False
            if not self._items or self._control:
                return []
            while not self._due_now():
                remaining = self._first_at + self._window_s - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            batches = [self._pop_batch()]
            while len(batches) < max_batches and self._items and self._due_now():
                batches.append(self._pop_batch())
            return batches

    def _due_now(self) -> bool:
        """A batch is due without waiting for the window (lock held)."""
        return self._waiting >= self._batch_max or self._closed or self._flush_waiters > 0 or bool(self._control)

    def _pop_batch(self) -> list[Envelope]:
        """Up to batch_max events; a bundle is never split, so one may go alone (lock held)."""
        items = self._items
        if self._waiting == len(items):
            # Each waiting envelope holds one slot (no bundle of several events): no
            # need to count them one by one, which costs as much as queueing them.
            taken = end = min(self._batch_max, len(items))
        else:
            taken = slot_count(items[0])
            end = 1
            while end < len(items) and taken + slot_count(items[end]) <= self._batch_max:
                taken += slot_count(items[end])
                end += 1
        batch = items[:end]
        del items[:end]
        self._waiting -= taken
        if items:
            # Offered before now, but when is not kept: the rest's window starts here.
            self._first_at = time.monotonic()
        return batch

    def done(self, count: int) -> None:
        """Release ``count`` slots: their events were committed or counted as dropped."""
        with self._lock:
            self._outstanding -= count
            if self._outstanding <= 0:
                self._outstanding = 0
                self._drained.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every event offered so far is done; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._flush_waiters += 1
            self._ready.notify_all()
            try:
                while self._outstanding > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._drained.wait(remaining)
                return True
            finally:
                self._flush_waiters -= 1

    def close(self) -> None:
        """Refuse further offers (counted as ``shutdown``) and wake the writer. Idempotent."""
        with self._lock:
            self._closed = True
            self._ready.notify_all()
