"""Bulk UUID v4 strings are valid, canonical and distinct."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.pipeline.ids import uuid4_strings


@given(st.integers(min_value=0, max_value=200))
def test_every_id_is_a_canonical_v4_uuid(count: int) -> None:
    ids = uuid4_strings(count)
    assert len(ids) == count
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_are_distinct() -> None:
    ids = uuid4_strings(10_000)
    assert len(set(ids)) == 10_000
