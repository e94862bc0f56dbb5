"""Cost with provenance: reported, computed (cache tokens too) and unpriced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclaw_trace.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, load_prices

TABLE = PriceTable(DEFAULT_PRICES)


def test_reported_cost_is_kept_as_is() -> None:
    assert TABLE.cost("gpt-4o", 0.25, 1000, 1000) == (0.25, "reported")
    assert TABLE.cost("unknown-model", 0.0, None, None) == (0.0, "reported")


def test_computed_from_tokens() -> None:
    cost, source = TABLE.cost("gpt-4o", None, 1_000_000, 1_000_000)
    assert source == "computed"
    assert cost == pytest.approx(2.50 + 10.0)


def test_cache_tokens_are_priced_on_their_own() -> None:
    cost, source = TABLE.cost(
        "claude-sonnet-4-5", None, 0, 0, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000
    )
    assert source == "computed"
    assert cost == pytest.approx(0.30 + 3.75)


def test_unknown_model_or_no_tokens_is_unpriced_never_zero() -> None:
    assert TABLE.cost("my-local-llama", None, 100, 100) == (None, "unpriced")
    assert TABLE.cost("gpt-4o", None, None, None) == (None, "unpriced")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("Gemini-2.5-Flash", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite-preview", "gemini-2.5-flash-lite"),
        ("o3-mini-high", "o3-mini"),
    ],
)
def test_longest_prefix_lookup(model: str, expected: str) -> None:
    assert TABLE.lookup(model) == DEFAULT_PRICES[expected]


def test_prefix_must_end_at_a_separator() -> None:
    assert TABLE.lookup("o1x") is None
    assert TABLE.lookup("gpt-4oo") is None


def test_price_file_adds_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-llama": {"input": 1, "output": 2}, "gpt-4o": {"input": 0, "output": 0}}))
    table = load_prices(str(path))
    assert table.lookup("my-llama") == ModelPrice(1, 2)
    assert table.cost("my-llama", None, 1_000_000, 0) == (1.0, "computed")
    assert table.cost("gpt-4o", None, 10, 10) == (0.0, "computed")
    assert len(table) == len(DEFAULT_PRICES) + 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected an object"),
        ('{"m": {"input": 1}}', "needs at least"),
        ('{"m": {"input": -1, "output": 1}}', "must be a number"),
        ('{"m": {"input": "cheap", "output": 1}}', "must be a number"),
        ('{"m": {"input": NaN, "output": 1}}', "must be a number"),
        ('{"m": {"input": null, "output": 1}}', "must be a number"),  # was a TypeError on every request
    ],
)
def test_bad_price_files_say_why(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=needle):
        load_prices(str(path))


def test_missing_price_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_prices(str(tmp_path / "nope.json"))


def test_remembered_answers_stay_right_through_a_flood_of_fresh_names() -> None:
    table = PriceTable(DEFAULT_PRICES)
    first = table.lookup("gpt-4o-mini-2024-07-18")  # priced by prefix, then remembered
    assert first is not None and first == table.lookup("gpt-4o-mini")
    for index in range(10_000):  # more names than the memo keeps: it empties and starts again
        assert table.lookup(f"no-such-model-{index}") is None
    assert table.lookup("gpt-4o-mini-2024-07-18") == first
    assert table.lookup("no-such-model-3") is None
