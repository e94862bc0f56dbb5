"""The loss ledger: counts between two snapshots, and a window that closes only when a ledger is acknowledged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.push.ledger import LedgerWindow, advance, ledger_between
from openclaw_trace.stats import Stats


def counted(received: dict[str, int], written: dict[str, int], dropped: dict[tuple[str, str], int]) -> Stats:
    stats = Stats()
    with stats.lock:
        for kind, n in received.items():
            stats.record_received_locked(kind, n)
    for kind, n in written.items():
        stats.record_written(kind, n)
    for (kind, reason), n in dropped.items():
        stats.record_dropped(kind, reason, n)
    return stats


def test_a_ledger_since_counting_began_holds_every_count_and_its_totals() -> None:
    stats = counted({"trace": 5, "error": 1}, {"trace": 3, "error": 1}, {("trace", "queue_full"): 2})
    ledger = ledger_between(None, stats.snapshot(), 100, 200)
    assert ledger.as_dict() == {
        "since_ms": 100,
        "until_ms": 200,
        "received": {"error": 1, "trace": 5},
        "stored": {"error": 1, "trace": 3},
        "dropped": {"queue_full": {"trace": 2}},
        "received_total": 6,
        "stored_total": 4,
        "dropped_total": 2,
    }
    assert ledger.flat() == {
        "received.error": 1,
        "received.trace": 5,
        "stored.error": 1,
        "stored.trace": 3,
        "dropped.queue_full.trace": 2,
    }


def test_kinds_and_reasons_that_did_not_change_are_left_out() -> None:
    stats = counted({"trace": 2, "error": 1}, {"trace": 2}, {("error", "shutdown"): 1})
    before = stats.snapshot()
    stats.record_written("error", 1)
    ledger = ledger_between(before, stats.snapshot(), 0, 1)
    assert (ledger.received, ledger.stored, ledger.dropped) == ({}, {"error": 1}, {})


counts = st.dictionaries(st.sampled_from(["trace", "error", "system_metric"]), st.integers(1, 1000), max_size=3)
drops = st.dictionaries(
    st.tuples(st.sampled_from(["trace", "error"]), st.sampled_from(["queue_full", "shutdown"])),
    st.integers(1, 1000),
    max_size=4,
)


@given(counts, counts, drops, counts, counts, drops)
def test_advance_by_a_ledger_is_the_snapshot_it_ended_at(
    received: dict[str, int],
    written: dict[str, int],
    dropped: dict[tuple[str, str], int],
    more_received: dict[str, int],
    more_written: dict[str, int],
    more_dropped: dict[tuple[str, str], int],
) -> None:
    stats = counted(received, written, dropped)
    first = ledger_between(None, stats.snapshot(), 0, 1)
    base = advance(None, first)
    with stats.lock:
        for kind, n in more_received.items():
            stats.record_received_locked(kind, n)
    for kind, n in more_written.items():
        stats.record_written(kind, n)
    for (kind, reason), n in more_dropped.items():
        stats.record_dropped(kind, reason, n)
    following = ledger_between(base, stats.snapshot(), 1, 2)
    # What the first ledger carried and what the next one carries add up to everything: no count twice, none lost.
    assert following.received == dict(sorted(more_received.items()))
    assert following.stored == dict(sorted(more_written.items()))
    assert {(kind, reason): n for reason, by_kind in following.dropped.items() for kind, n in by_kind.items()} == (
        more_dropped
    )


def test_an_unacknowledged_ledger_is_carried_again_grown() -> None:
    stats = counted({"trace": 3}, {"trace": 3}, {})
    window = LedgerWindow(since_ms=1_000)
    unanswered = window.ledger(stats.snapshot(), 2_000)
    stats.record_written("error", 2)
    carried = window.ledger(stats.snapshot(), 3_000)
    assert unanswered.stored == {"trace": 3}
    assert carried.since_ms == 1_000  # the window did not move
    assert carried.stored == {"error": 2, "trace": 3}


def test_an_acknowledged_ledger_closes_its_window_where_it_ended() -> None:
    stats = counted({"trace": 3}, {"trace": 3}, {("trace", "queue_full"): 1})
    window = LedgerWindow(since_ms=1_000)
    sent = window.ledger(stats.snapshot(), 2_000)
    stats.record_written("error", 2)  # counted after the ledger was made: the next window's
    window.acknowledged(sent)
    following = window.ledger(stats.snapshot(), 3_000)
    assert following.since_ms == 2_000
    assert (following.received, following.stored, following.dropped) == ({}, {"error": 2}, {})
