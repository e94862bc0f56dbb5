"""Model prices, and the cost of a call with where that cost came from.

A call's cost is ``reported`` when the sender gave one, ``computed`` from
its tokens and the price table when the model is known, and ``unpriced``
otherwise — then ``cost_usd`` stays empty: an unknown cost is never shown
as $0.

Prices are USD per million tokens. ``prompt_tokens`` is taken as input
tokens *not* read from or written to the prompt cache (as OpenClaw and
Anthropic count them); cache reads and writes are priced on their own.
The shipped table covers common OpenAI, Anthropic and Google models at list
prices; a user file (``OCT_PRICES_FILE``) adds models or overrides them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

CostSource = Literal["reported", "computed", "unpriced"]


@dataclasses.dataclass(frozen=True)
class ModelPrice:
    input: float
    output: float
    cache_read: float | None = None  # None: priced as input
    cache_write: float | None = None  # None: priced as input


# List prices, USD per 1M tokens (input, output, cache read, cache write).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    # OpenAI: cached input is billed at a discount; there is no cache-write charge.
    "gpt-5": ModelPrice(1.25, 10.0, 0.125, 1.25),
    "gpt-5-mini": ModelPrice(0.25, 2.0, 0.025, 0.25),
    "gpt-5-nano": ModelPrice(0.05, 0.40, 0.005, 0.05),
    "gpt-4.1": ModelPrice(2.0, 8.0, 0.50, 2.0),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60, 0.10, 0.40),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40, 0.025, 0.10),
    "gpt-4o": ModelPrice(2.50, 10.0, 1.25, 2.50),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, 0.075, 0.15),
    "o1": ModelPrice(15.0, 60.0, 7.50, 15.0),
    "o3": ModelPrice(2.0, 8.0, 0.50, 2.0),
    "o3-mini": ModelPrice(1.10, 4.40, 0.55, 1.10),
    "o4-mini": ModelPrice(1.10, 4.40, 0.275, 1.10),
    # Anthropic: cache writes (5-minute) at 1.25x input, cache reads at 0.1x.
    "claude-opus-4-5": ModelPrice(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": ModelPrice(15.0, 75.0, 1.50, 18.75),
    "claude-opus-4": ModelPrice(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-3-7-sonnet": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-3-5-sonnet": ModelPrice(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0, 0.08, 1.0),
    "claude-3-haiku": ModelPrice(0.25, 1.25, 0.03, 0.30),
    # Google (prompts up to 200k tokens; context caching storage is not per call).
    "gemini-2.5-pro": ModelPrice(1.25, 10.0, 0.31, 1.25),
    "gemini-2.5-flash": ModelPrice(0.30, 2.50, 0.075, 0.30),
    "gemini-2.5-flash-lite": ModelPrice(0.10, 0.40, 0.025, 0.10),
    "gemini-2.0-flash": ModelPrice(0.10, 0.40, 0.025, 0.10),
    "gemini-1.5-pro": ModelPrice(1.25, 5.0, 0.3125, 1.25),
    "gemini-1.5-flash": ModelPrice(0.075, 0.30, 0.01875, 0.075),
}


_FOUND_MAX = 4096


class PriceTable:
    """Looks up a model's price by exact name, then by the longest known prefix.

    ``gpt-4o-mini-2024-07-18`` finds ``gpt-4o-mini``; a ``provider/`` prefix
    (``openai/gpt-4o``) is ignored. Its prices never change; its memo of answers is one
    dict, each step of it one operation under the GIL: safe from any thread.
    """

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        # Longest first, so the most specific prefix wins.
        self._prefixes = sorted(self._prices, key=len, reverse=True)
        # Each name's answer, once found: a name priced by prefix scans every known prefix
        # (~1 µs a call). Few names recur; a flood of fresh ones empties it, bounding it.
        self._found: dict[str, ModelPrice | None] = {}

    def __len__(self) -> int:
        return len(self._prices)

    def lookup(self, model: str) -> ModelPrice | None:
        try:
            return self._found[model]
        except KeyError:
            pass
        if len(self._found) >= _FOUND_MAX:
            self._found.clear()
        price = self._found[model] = self._search(model)
        return price

    def _search(self, model: str) -> ModelPrice | None:
        name = model.lower().rsplit("/", 1)[-1]
        price = self._prices.get(name)
        if price is not None:
            return price
        for prefix in self._prefixes:
            if name.startswith(prefix) and name[len(prefix) : len(prefix) + 1] in ("", "-", "@", ":", "."):
                return self._prices[prefix]
        return None

    def cost(
        self,
        model: str,
        reported_usd: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
    ) -> tuple[float | None, CostSource]:
        """(cost_usd, source) for one call; cost is None exactly when unpriced."""
        if reported_usd is not None:
            return reported_usd, "reported"
        if (
            prompt_tokens is None
            and completion_tokens is None
            and cache_read_tokens is None
            and cache_write_tokens is None
        ):
            return None, "unpriced"
        price = self.lookup(model)
        if price is None:
            return None, "unpriced"
        cache_read_price = price.input if price.cache_read is None else price.cache_read
        cache_write_price = price.input if price.cache_write is None else price.cache_write
        total = (
            (prompt_tokens or 0) * price.input
            + (completion_tokens or 0) * price.output
            + (cache_read_tokens or 0) * cache_read_price
            + (cache_write_tokens or 0) * cache_write_price
        ) / 1_000_000
        return round(total, 10), "computed"


def load_prices(path: str | None) -> PriceTable:
    """The shipped table, extended or overridden by the JSON file at ``path``.

    The file maps model names to ``{"input": .., "output": .., "cache_read":
    .., "cache_write": ..}`` in USD per million tokens. Raises ``ValueError``
    with a one-line reason for a file that cannot be used.
    """
    prices = dict(DEFAULT_PRICES)
    if path:
        prices.update(_read_price_file(Path(path)))
    return PriceTable(prices)


def _read_price_file(path: Path) -> dict[str, ModelPrice]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of model name -> prices")
    parsed: dict[str, ModelPrice] = {}
    for model, entry in raw.items():
        if not isinstance(entry, dict) or not {"input", "output"} <= entry.keys():
            raise ValueError(f"{path}: {model!r} needs at least 'input' and 'output' prices")
        values = {key: entry.get(key) for key in ("input", "output", "cache_read", "cache_write")}
        for key, value in values.items():
            optional = key in ("cache_read", "cache_write")  # input and output must be prices
            ok = (value is None and optional) or (
                isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
            )
            if not ok:
                raise ValueError(f"{path}: {model!r} {key} must be a number >= 0")
        parsed[model] = ModelPrice(**values)  # type: ignore[arg-type]
    return parsed
