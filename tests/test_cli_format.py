"""How the read commands print rows: cells for people, tables cut to the terminal, JSON and CSV for scripts."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from openclaw_trace.cli_format import as_csv, as_json, cell, local_time, money, table

UTC = datetime.UTC
PARIS_SUMMER = datetime.timezone(datetime.timedelta(hours=2))


def test_money_and_times() -> None:
    assert money(None) == "-"
    assert money(1234.5) == "$1,234.5000"
    assert money(0.00004) == "$0.0000"
    assert local_time(None) == "-"
    assert local_time(0, UTC) == "1970-01-01 00:00:00"
    assert local_time(1_790_000_000_123, PARIS_SUMMER) == "2026-09-21 16:13:20"


@pytest.mark.parametrize(
    ("column", "value", "row", "shown"),
    [
        ("created_at", 0, {}, "1970-01-01 00:00:00"),
        ("last_seen", 86_400_000, {}, "1970-01-02 00:00:00"),
        ("created_at", "2026-01-01", {}, "2026-01-01"),  # not a time in ms: shown as it is
        ("cost_usd", 0.0, {"cost_source": "unpriced"}, "unpriced"),  # never "$0" for a call without a price
        ("cost_usd", 0.0, {"cost_source": "computed"}, "$0.0000"),
        ("cost_reported_usd", None, {}, "-"),
        ("model", None, {}, "-"),
        ("latency_ms", 1234.56, {}, "1,234.6"),
        ("calls", 1234567, {}, "1,234,567"),
        ("message", "line one\n\tline two  ", {}, "line one line two"),
    ],
)
def test_a_cell_as_a_person_reads_it(column: str, value: object, row: dict[str, object], shown: str) -> None:
    assert cell(column, value, row, UTC) == shown


def test_an_empty_table_says_so() -> None:
    assert table([], ["model"]) == "(nothing in this window)"


def test_a_table_aligns_its_columns_and_cuts_the_last_to_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    rows = [
        {"model": "gpt-4o", "calls": 12, "message": "short"},
        {"model": "claude-sonnet-4", "calls": 3, "message": "a long message " * 5},
    ]
    lines = table(rows, ["model", "calls", "message"], UTC).splitlines()
    assert lines[0] == "model            calls  message"
    assert lines[1] == "gpt-4o           12     short"
    assert lines[2].startswith("claude-sonnet-4  3      a long")
    assert lines[2].endswith("…")
    assert len(lines[2]) == 40  # the width of the terminal


def test_a_narrow_terminal_still_shows_a_few_characters_of_the_last_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "10")
    lines = table([{"model": "claude-sonnet-4", "message": "something went wrong"}], ["model", "message"]).splitlines()
    assert lines[1] == "claude-sonnet-4  somet…"


def test_json_keeps_text_as_it_is() -> None:
    document = {"model": "modèle", "cost_usd": None, "calls": [1, 2]}
    assert json.loads(as_json(document)) == document
    assert "modèle" in as_json(document)


def test_csv_has_the_columns_asked_for_in_their_order() -> None:
    rows = [
        {"model": "m1", "calls": 2, "ignored": "x"},
        {"model": 'quoted, "odd"', "calls": None},
    ]
    text = as_csv(rows, ["calls", "model"])
    assert not text.endswith("\n")
    assert list(csv.reader(io.StringIO(text))) == [["calls", "model"], ["2", "m1"], ["", 'quoted, "odd"']]
