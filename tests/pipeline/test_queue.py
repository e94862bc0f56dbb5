"""IngestQueue on its own: capacity, drop reasons, batch hand-out, flush and close."""

from __future__ import annotations

import threading

from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import BUNDLE, IngestQueue, inner_kinds, slots
from openclaw_trace.stats import Stats


def envelope(i: int = 0, kind: str = "trace") -> Envelope:
    return Envelope(kind, i, ("p", f"m{i}"))


def test_offer_counts_received_and_queue_full() -> None:
    stats = Stats()
    queue = IngestQueue(stats, capacity=3)
    assert [queue.offer(envelope(i)) for i in range(5)] == [True, True, True, False, False]
    snap = stats.snapshot()
    assert snap.received == {"trace": 5}
    assert snap.dropped == {"queue_full": {"trace": 2}}
    assert queue.depth() == 3


def test_slots_are_held_until_done() -> None:
    queue = IngestQueue(Stats(), capacity=4, batch_max_events=2)
    queue.offer_many([envelope(i) for i in range(4)])
    batch = queue.take_batch()
    assert len(batch) == 2
    assert queue.depth() == 4  # taken but not written: still held
    assert not queue.offer(envelope(9))
    queue.done(len(batch))
    assert queue.depth() == 2
    assert queue.offer(envelope(9))


def test_backlog_counts_what_waits_for_a_batch_not_what_is_being_written() -> None:
    queue = IngestQueue(Stats(), batch_max_events=50, batch_window_s=60)
    queue.offer_many([envelope(i) for i in range(70)])
    assert queue.backlog() == 70
    batch = queue.take_batch()
    assert (len(batch), queue.backlog(), queue.depth()) == (50, 20, 70)
    queue.done(len(batch))
    assert (queue.backlog(), queue.depth()) == (20, 20)


def test_take_batch_returns_full_batches_in_order() -> None:
    queue = IngestQueue(Stats(), batch_max_events=50, batch_window_s=60)
    queue.offer_many([envelope(i) for i in range(120)])
    sizes = []
    seen = []
    for _ in range(2):
        batch = queue.take_batch()
        sizes.append(len(batch))
        seen += [e.created_at_ms for e in batch]
        queue.done(len(batch))
    assert sizes == [50, 50]
    assert seen == list(range(100))


def test_close_refuses_offers_as_shutdown_and_hands_out_the_rest() -> None:
    stats = Stats()
    queue = IngestQueue(stats, batch_window_s=60)
    queue.offer_many([envelope(i) for i in range(3)])
    queue.close()
    assert not queue.offer(envelope(4, kind="error"))
    assert stats.snapshot().dropped == {"shutdown": {"error": 1}}
    batch = queue.take_batch()  # closed: no window wait
    assert len(batch) == 3
    queue.done(3)
    assert not queue.exhausted()  # closed, but the consumer still serves control tasks
    queue.release()
    assert queue.take_batch() == []
    assert queue.exhausted()


def test_flush_cuts_the_window_short_and_waits_for_done() -> None:
    queue = IngestQueue(Stats(), batch_window_s=600)
    queue.offer(envelope())
    taken: list[int] = []

    def consume() -> None:
        batch = queue.take_batch()
        taken.append(len(batch))
        queue.done(len(batch))

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert queue.flush(10)
    consumer.join(10)
    assert taken == [1]


def test_flush_times_out_when_nobody_consumes() -> None:
    queue = IngestQueue(Stats())
    queue.offer(envelope())
    assert queue.flush(0.05) is False


def test_many_producers_balance_the_books() -> None:
    stats = Stats()
    queue = IngestQueue(stats, capacity=512)
    stop = threading.Event()
    written = [0]

    def consume() -> None:
        while True:
            batch = queue.take_batch()
            if not batch:
                return
            written[0] += len(batch)
            queue.done(len(batch))

    consumer = threading.Thread(target=consume)
    consumer.start()

    def produce() -> None:
        for i in range(5000):
            queue.offer(envelope(i))

    producers = [threading.Thread(target=produce) for _ in range(4)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    queue.close()
    queue.release()
    consumer.join(10)
    stop.set()
    snap = stats.snapshot()
    dropped = sum(snap.dropped.get("queue_full", {}).values())
    assert snap.received == {"trace": 20000}
    assert written[0] + dropped == 20000


def test_a_bundle_holds_one_slot_per_inner_event() -> None:
    stats = Stats()
    queue = IngestQueue(stats, capacity=100)
    inner = tuple(Envelope("error", 1, ("x",)) for _ in range(40))
    bundle = Envelope(BUNDLE, 1, (inner, ()))
    assert queue.offer_all([bundle])
    assert queue.offer_all([bundle])
    assert queue.depth() == 80  # events, as /health reports them: received = written + dropped + queued
    assert not queue.offer_all([bundle])  # 120 events would pass the capacity of 100
    assert queue.offer_all([Envelope(BUNDLE, 1, ((), ()))])  # a position alone still takes a slot
    assert queue.depth() == 81
    assert stats.snapshot().received == {"error": 80}
    # A batch holds at most 50 events and never splits a bundle: 40 + 40 go one at a time.
    assert queue.take_batch() == [bundle]
    assert len(queue.take_batch()) == 2  # the second bundle and the empty one
    queue.done(81)
    assert queue.depth() == 0


def test_inner_kinds_and_slots_of_plain_mixed_and_bundled_batches() -> None:
    plain = [envelope(i) for i in range(50)]
    assert inner_kinds(plain) == {"trace": 50} and slots(plain) == 50
    mixed = [envelope(0), envelope(1, "error"), envelope(2), envelope(3, "system_metric")]
    assert inner_kinds(mixed) == {"trace": 2, "error": 1, "system_metric": 1} and slots(mixed) == 4
    inner = tuple(Envelope("gateway_event", 1, ("x",)) for _ in range(3))
    bundled = [Envelope(BUNDLE, 1, (inner, ())), envelope(5), Envelope(BUNDLE, 1, ((), ()))]
    assert inner_kinds(bundled) == {"gateway_event": 3, "trace": 1}
    assert slots(bundled) == 5  # 3 inner events, 1 trace, and the empty bundle's one slot
    assert inner_kinds([Envelope(BUNDLE, 1, (inner, ()))] * 2) == {"gateway_event": 6}
    assert inner_kinds([]) == {} and slots([]) == 0


def _take_in_thread(queue: IngestQueue) -> tuple[threading.Thread, list[int]]:
    taken: list[int] = []

    def consume() -> None:
        taken.append(len(queue.take_batch()))

    consumer = threading.Thread(target=consume, daemon=True)  # a failing test leaves it waiting
    consumer.start()
    return consumer, taken


def test_a_full_batch_wakes_a_consumer_inside_its_window() -> None:
    # With a window of ten minutes only the batch-full wake-up can end the wait.
    queue = IngestQueue(Stats(), batch_max_events=50, batch_window_s=600)
    consumer, taken = _take_in_thread(queue)
    queue.offer_many([envelope(i) for i in range(49)])
    consumer.join(0.2)
    assert consumer.is_alive()  # 49 of 50: still waiting
    queue.offer(envelope(49))
    consumer.join(10)
    assert taken == [50]


def test_an_idle_consumer_is_woken_by_the_first_event() -> None:
    # After a quiet window the consumer waits without a timeout: only the first
    # event's wake-up gets the partial batch out, one window after its offer.
    queue = IngestQueue(Stats(), batch_window_s=0.05)
    consumer, taken = _take_in_thread(queue)
    threading.Event().wait(0.3)  # several windows: idle by now
    queue.offer(envelope())
    consumer.join(10)
    assert taken == [1]
