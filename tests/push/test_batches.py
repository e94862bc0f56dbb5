"""Reading unsynced rows in id order and splitting by size (hypothesis for split and truncation)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.push.batches import Sized, iter_unsynced, shrink_values, split, truncate_utf8
from openclaw_trace.storage.connection import open_read_connection
from tests.push.conftest import Store


@given(st.lists(st.integers(min_value=1, max_value=500), max_size=60), st.integers(min_value=1, max_value=1000))
def test_split_keeps_order_and_never_passes_the_budget_unless_alone(sizes: list[int], budget: int) -> None:
    items = [Sized(i, size, None) for i, size in enumerate(sizes)]
    batches = list(split(items, budget))
    assert [item for batch in batches for item in batch] == items
    for batch in batches:
        assert batch
        assert sum(i.size for i in batch) <= budget or len(batch) == 1


@given(st.text(), st.integers(min_value=0, max_value=200))
def test_truncate_utf8_cuts_on_a_character_boundary(text: str, limit: int) -> None:
    cut = truncate_utf8(text, limit)
    assert text.startswith(cut)
    assert len(cut.encode("utf-8", "surrogatepass")) <= max(limit, 0) or cut == text


def test_shrink_values_cuts_the_longest_text_first() -> None:
    values = {"input_text": "a" * 1000, "output_text": "b" * 100, "prompt_tokens": 5}
    shrunk, cut = shrink_values(values, 500, ("input_text", "output_text"))
    assert cut == ["input_text"]
    assert len(shrunk["input_text"]) <= 1000 - 500
    assert shrunk["output_text"] == values["output_text"]


def test_iter_unsynced_reads_in_id_order_in_chunks_and_skips(store: Store) -> None:
    store.add("trace", 25)
    conn = open_read_connection(store.db_path)
    try:
        rows = list(iter_unsynced(conn, "llm_traces", skip=lambda row_id: row_id % 2 == 0, chunk_rows=4))
        # Rows that arrive after iteration started wait for the next cycle.
        later = iter_unsynced(conn, "llm_traces", chunk_rows=4)
        first = next(later)
        store.add("trace", 5)
        rest = list(later)
    finally:
        conn.close()
    ids = [r.id for r in rows]
    assert ids == sorted(ids) and all(i % 2 for i in ids) and len(ids) == 13
    assert rows[0].kind == "trace" and rows[0].trace_id
    assert "synced" not in rows[0].values and "pushed_at" not in rows[0].values
    assert len([first, *rest]) == 25
