"""The loss ledger: what the daemon received, stored and dropped since the last acknowledged push.

Each push carries the ledger beside its rows so the receiver can tell a
quiet host from a host that lost events. The window starts where the last
acknowledged ledger ended: a ledger the receiver never acknowledged is
carried again (grown) by the next push, so every count reaches the
receiver once per acknowledged request, never zero times while pushes
succeed. ``ledger_between`` and ``advance`` are pure: snapshots in, numbers
out; ``LedgerWindow`` keeps where the open window starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from openclaw_trace.stats import StatsSnapshot


@dataclasses.dataclass(frozen=True)
class Ledger:
    since_ms: int  # end of the last acknowledged window (or the start of counting)
    until_ms: int
    received: dict[str, int]  # by event kind
    stored: dict[str, int]  # by event kind
    dropped: dict[str, dict[str, int]]  # reason -> kind -> count

    def as_dict(self) -> dict[str, Any]:
        return {
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "received": self.received,
            "stored": self.stored,
            "dropped": self.dropped,
            "received_total": sum(self.received.values()),
            "stored_total": sum(self.stored.values()),
            "dropped_total": sum(sum(by_kind.values()) for by_kind in self.dropped.values()),
        }

    def flat(self) -> dict[str, int]:
        """Dotted names → counts (for OTLP attributes): ``received.trace``, ``dropped.queue_full.trace`` …"""
        out = {f"received.{k}": v for k, v in self.received.items()}
        out.update({f"stored.{k}": v for k, v in self.stored.items()})
        for reason, by_kind in self.dropped.items():
            out.update({f"dropped.{reason}.{k}": v for k, v in by_kind.items()})
        return out


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


def ledger_between(before: StatsSnapshot | None, after: StatsSnapshot, since_ms: int, until_ms: int) -> Ledger:
    """The counts in ``after`` minus those in ``before`` (None: since counting began); zeros left out."""
    dropped: dict[str, dict[str, int]] = {}
    for reason, by_kind in sorted(after.dropped.items()):
        earlier = before.dropped.get(reason, {}) if before else {}
        delta = _delta(by_kind, earlier)
        if delta:
            dropped[reason] = delta
    return Ledger(
        since_ms=since_ms,
        until_ms=until_ms,
        received=_delta(after.received, before.received if before else {}),
        stored=_delta(after.written, before.written if before else {}),
        dropped=dropped,
    )


def advance(base: StatsSnapshot | None, ledger: Ledger) -> StatsSnapshot:
    """``base`` plus the ledger's counts: the snapshot the acknowledged window ended at."""
    received = dict(base.received) if base else {}
    written = dict(base.written) if base else {}
    dropped = {reason: dict(by_kind) for reason, by_kind in base.dropped.items()} if base else {}
    for kind, n in ledger.received.items():
        received[kind] = received.get(kind, 0) + n
    for kind, n in ledger.stored.items():
        written[kind] = written.get(kind, 0) + n
    for reason, by_kind in ledger.dropped.items():
        into = dropped.setdefault(reason, {})
        for kind, n in by_kind.items():
            into[kind] = into.get(kind, 0) + n
    return StatsSnapshot(
        received=received,
        written=written,
        dropped=dropped,
        last_queue_full_ms=None,
        writer_failures=0,
        writer_last_error=None,
        writer_alive=True,
        writer_db_error=False,
        unsynced=0,
        counters={},
        feeds={},
    )


class LedgerWindow:
    """The open window of the loss ledger: from the end of the last acknowledged ledger to now.

    Not thread-safe: the push thread (or the ``push --once`` caller) alone
    uses it. Nothing is lost by a ledger that is never acknowledged: the
    window stays open and the next ledger carries its counts again.
    """

    def __init__(self, since_ms: int) -> None:
        self._base: StatsSnapshot | None = None  # the counts the acknowledged windows added up to
        self._since_ms = since_ms

    def ledger(self, now: StatsSnapshot, until_ms: int) -> Ledger:
        """The counts of ``now`` since the window opened."""
        return ledger_between(self._base, now, self._since_ms, until_ms)

    def acknowledged(self, ledger: Ledger) -> None:
        """``ledger`` reached the receiver: the next window starts where it ended."""
        # The base is rebuilt from the ledger's own counts, not from a snapshot taken now:
        # what was counted after the ledger was made belongs to the next window.
        self._base = advance(self._base, ledger)
        self._since_ms = ledger.until_ms
