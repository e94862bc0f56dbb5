"""Validation and truncation, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.model import BadEvent, Envelope, EventLimits, decode_errors, decode_traces, truncate_utf8
from openclaw_trace.storage.writes import COLUMNS

LIMITS = EventLimits(max_text_bytes=100)


def trace_fields(envelope: Envelope) -> dict[str, object]:
    return dict(zip(COLUMNS["trace"], envelope.values, strict=True))


@given(st.text(), st.integers(min_value=0, max_value=200))
def test_truncation_gives_a_valid_utf8_prefix_within_the_limit(text: str, limit: int) -> None:
    cut = truncate_utf8(text, limit)
    encoded = cut.encode("utf-8")
    assert len(encoded) <= limit
    assert text.startswith(cut)
    # Maximal: the next character would not have fitted.
    if cut != text:
        assert len(encoded) + len(text[len(cut)].encode("utf-8")) > limit


@given(st.text(alphabet=st.characters(max_codepoint=127), min_size=0, max_size=500))
def test_ascii_over_the_limit_keeps_exactly_the_limit(text: str) -> None:
    cut = truncate_utf8(text, 100)
    assert len(cut.encode()) == min(len(text), 100)


def test_trace_defaults_and_status_from_error_type() -> None:
    [ok] = decode_traces(b'{"provider":"p","model":"m"}', 5, LIMITS)
    assert ok.kind == "trace"
    assert ok.created_at_ms == 5
    assert trace_fields(ok)["status"] == "ok"
    assert trace_fields(ok)["cost_source"] == "unpriced"
    [failed] = decode_traces(b'{"provider":"p","model":"m","error_type":"rate_limit"}', 5, LIMITS)
    assert trace_fields(failed)["status"] == "error"


def test_sender_timestamp_wins_over_receipt_time() -> None:
    [event] = decode_traces(b'{"provider":"p","model":"m","timestamp_ms":1700000000000}', 5, LIMITS)
    assert event.created_at_ms == 1_700_000_000_000


def test_unknown_fields_are_ignored() -> None:
    [event] = decode_errors(b'{"error_type":"crash","message":"m","future_field":1}', 5, LIMITS)
    assert dict(zip(COLUMNS["error"], event.values, strict=True))["error_type"] == "crash"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"provider":"p"}', "`model`"),
        (b'{"provider":"p","model":"m","latency_ms":"slow"}', "$.latency_ms"),
        (b'{"error_type":"nope","message":"m"}', "$.error_type"),
    ],
)
def test_errors_name_the_field(body: bytes, needle: str) -> None:
    decode = decode_errors if b"error_type" in body else decode_traces
    with pytest.raises(BadEvent, match=None) as caught:
        decode(body, 0, LIMITS)
    assert needle in str(caught.value)
