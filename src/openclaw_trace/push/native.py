"""The native JSON push format: one envelope per request, events with their kind and trace_id.

Body::

    {"format": "openclaw-trace.push/1",
     "source": {"host": ..., "agent_id": ... | null, "sidecar": "openclaw-trace", "version": ...},
     "table": "llm_traces", "count": 2,
     "ledger": {"since_ms", "until_ms", "received": {kind: n}, "stored": {...},
                "dropped": {reason: {kind: n}}, "received_total", "stored_total", "dropped_total"} | null,
     "events": [{"kind": "trace", "trace_id": "…", "created_at": ms, "fields": {column: value, …}}, …]}

``fields`` holds the row's columns (``metadata`` and ``attributes`` parsed
back to objects); nesting them keeps a column called ``kind``
(gateway_events) from clashing with the event's kind. An event shortened to
fit the payload budget carries ``"truncated": [columns]``. Receivers
de-duplicate by ``trace_id``: delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from openclaw_trace import __version__
from openclaw_trace.push.batches import Request, Row, Sized, shrink_values
from openclaw_trace.push.ledger import Ledger

FORMAT_ID = "openclaw-trace.push/1"
CONTENT_TYPE = "application/json"
_JSON_COLUMNS = ("metadata", "attributes")
_TEXT_COLUMNS = ("input_text", "output_text", "stack_trace", "message", "metadata", "attributes")
_encoder = msgspec.json.Encoder()


def _parsed(text: Any) -> Any:
    """A JSON column back to its object; text that is not JSON stays text."""
    if not isinstance(text, str):
        return text
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def event(row: Row, truncated: Sequence[str] = (), values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event object of one row."""
    fields = dict(row.values if values is None else values)
    trace_id = fields.pop("trace_id")
    created_at = fields.pop("created_at")
    for column in _JSON_COLUMNS:
        if column in fields:
            fields[column] = _parsed(fields[column])
    out: dict[str, Any] = {"kind": row.kind, "trace_id": trace_id, "created_at": created_at, "fields": fields}
    if truncated:
        out["truncated"] = list(truncated)
    return out


class NativeEncoder:
    """Rows → JSON envelopes. Stateless apart from the identity; safe to share."""

    name = "json"
    carries_ledger = True

    def __init__(self, host: str, agent_id: str | None = None) -> None:
        self.source = {"host": host, "agent_id": agent_id, "sidecar": "openclaw-trace", "version": __version__}

    def item(self, row: Row, budget_bytes: int) -> Sized[bytes]:
        encoded = _encoder.encode(event(row))
        if len(encoded) + 1 > budget_bytes:
            values, cut = shrink_values(row.values, len(encoded) + 1 - budget_bytes, _TEXT_COLUMNS)
            encoded = _encoder.encode(event(row, cut, values))
        return Sized(row.id, len(encoded) + 1, encoded, row.trace_id)  # +1: the comma between events

    def _prefix(self, table: str, count: int, ledger: Ledger | None) -> bytes:
        header = {
            "format": FORMAT_ID,
            "source": self.source,
            "table": table,
            "count": count,
            "ledger": ledger.as_dict() if ledger else None,
        }
        return _encoder.encode(header)[:-1] + b',"events":['

    def overhead_bytes(self, ledger: Ledger | None) -> int:
        # Table name and count are short; 256 covers them and a ledger that grew a new kind meanwhile.
        return len(self._prefix("", 0, ledger)) + 2 + 256

    def request(self, table: str, items: Sequence[Sized[Any]], ledger: Ledger | None) -> Request:
        body = self._prefix(table, len(items), ledger) + b",".join(i.item for i in items) + b"]}"
        return Request("", body, CONTENT_TYPE, len(items))

    def ledger_request(self, ledger: Ledger) -> Request | None:
        return Request("", self._prefix("", 0, ledger) + b"]}", CONTENT_TYPE, 0)
