"""Which feed delivered a row, so that ``status`` can say which feed went silent.

A feed is a way events reach the daemon: the OpenClaw plugin, OTLP (the
gateway's exporter or any OpenTelemetry producer), the gateway log tailer,
the host collector, or any other client of the native API. Every producer
already marks its trace and error rows with ``metadata.source``; gateway
events, OTLP metric points and host samples are each one feed's alone.

Counted by the writer once per batch (``BatchWrites``), off the HTTP path:
one substring test per trace or error row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FEEDS = ("plugin", "otlp", "log", "host", "api")

_FEED_OF_KIND = {"gateway_event": "log", "metric_point": "otlp", "system_metric": "host"}
# metadata is compact JSON (msgspec) whose "source" its producer wrote; the prefix
# '"source":"otlp' covers both OTLP sources (spans and logs).
_SOURCE_MARKS = (
    ('"source":"openclaw-plugin"', "plugin"),
    ('"source":"otlp', "otlp"),
    ('"source":"gateway_log"', "log"),
)


def feed_of(kind: str, metadata: object) -> str:
    """The feed of one row of ``kind`` whose metadata column holds ``metadata``."""
    feed = _FEED_OF_KIND.get(kind)
    if feed is not None:
        return feed
    if isinstance(metadata, str):
        for mark, marked_feed in _SOURCE_MARKS:
            if mark in metadata:
                return marked_feed
    return "api"


def feeds_by_kind(rows_by_kind: Mapping[str, Sequence[Sequence[Any]]]) -> dict[str, dict[str, int]]:
    """Rows per kind and feed of a batch grouped by kind; each row's last value is its metadata."""
    counts: dict[str, dict[str, int]] = {}
    for kind, rows in rows_by_kind.items():
        by_feed = counts.setdefault(kind, {})
        fixed = _FEED_OF_KIND.get(kind)
        if fixed is not None:
            by_feed[fixed] = by_feed.get(fixed, 0) + len(rows)
            continue
        for row in rows:
            feed = feed_of(kind, row[-1])
            by_feed[feed] = by_feed.get(feed, 0) + 1
    return counts


def feed_totals(by_kind: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """``feeds_by_kind``'s counts summed over the kinds."""
    totals: dict[str, int] = {}
    for by_feed in by_kind.values():
        for feed, count in by_feed.items():
            totals[feed] = totals.get(feed, 0) + count
    return totals
