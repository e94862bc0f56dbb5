"""How the read commands print rows: an aligned table for people, JSON or CSV for scripts.

Tables show money as ``$1.2345`` and an unpriced call's cost as ``unpriced``
(never ``$0``), times as local ``YYYY-MM-DD HH:MM:SS``, and cut long text
to fit the terminal.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import shutil
from collections.abc import Sequence
from typing import Any

_TIME_COLUMNS = {"created_at", "first_seen", "last_seen", "last_at", "since_ms", "until_ms"}
_MONEY_COLUMNS = {"cost_usd", "cost_reported_usd", "cost_computed_usd"}
_MIN_WIDTH = 6


def money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def local_time(ms: int | None, tz: datetime.tzinfo | None = None) -> str:
    if ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, tz).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def cell(column: str, value: Any, row: dict[str, Any], tz: datetime.tzinfo | None) -> str:
    """One value as a person reads it."""
    if column in _TIME_COLUMNS and isinstance(value, int):
        return local_time(value, tz)
    if column == "cost_usd" and row.get("cost_source") == "unpriced":
        return "unpriced"
    if column in _MONEY_COLUMNS:
        return money(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return " ".join(str(value).split())  # one line per row: newlines and tabs become spaces


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], tz: datetime.tzinfo | None = None) -> str:
    """An aligned table; the last column is cut to what the terminal has left."""
    if not rows:
        return "(nothing in this window)"
    shown = [[cell(column, row.get(column), row, tz) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in shown)) for i, column in enumerate(columns)]
    room = shutil.get_terminal_size((120, 20)).columns - sum(widths[:-1]) - 2 * (len(columns) - 1)
    widths[-1] = max(_MIN_WIDTH, min(widths[-1], room))
    lines = ["  ".join(column.ljust(widths[i]) for i, column in enumerate(columns)).rstrip()]
    for line in shown:
        cut = [text if len(text) <= widths[i] else text[: widths[i] - 1] + "…" for i, text in enumerate(line)]
        lines.append("  ".join(text.ljust(widths[i]) for i, text in enumerate(cut)).rstrip())
    return "\n".join(lines)


def as_json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def as_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column) for column in columns})
    return out.getvalue().rstrip("\n")
