"""The read commands end to end: main() on a real database, what a person and a script see, every bad input."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.cli import main
from tests.read.conftest import HOUR_MS, Store


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Store]:
    import time

    now = time.time_ns() // 1_000_000
    store = Store(tmp_path / "oct.db")
    store.call(now - HOUR_MS, model="gpt-4o", cost_usd=1.5, cost_source="reported", total_tokens=100,
               session_id="s1", input_text="the question", output_text="the answer")  # fmt: skip
    store.call(now - 2 * HOUR_MS, model="mystery", cost_source="unpriced", total_tokens=10, session_id="s1")
    store.call(now - 3 * HOUR_MS, model="gpt-4o", cost_usd=0.5, cost_source="computed", status="error",
               session_id="s2")  # fmt: skip
    store.error(now - HOUR_MS, category="rate_limit", session_id="s2")
    yield store
    store.conn.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_for_people_and_for_scripts(filled: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "--db", filled.path)
    assert code == 0
    assert "cost        $2.0000 (+1 unpriced)" in out
    assert "calls       3, 1 failed (33.3%)" in out
    code, out, _ = run(capsys, "summary", "--db", filled.path, "--json")
    document = json.loads(out)
    assert (document["calls"], document["cost_usd"], document["unpriced_calls"]) == (3, 2.0, 1)


def test_cost_by_model_table_json_and_csv(filled: Store, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "cost", "--db", filled.path, "--by", "model")
    lines = out.splitlines()
    assert lines[0].split() == ["model", "calls", "failed_calls", "total_tokens", "cost_usd", "unpriced_calls"]
    assert lines[1].split()[:5] == ["gpt-4o", "2", "1", "100", "$2.0000"]
    assert lines[2].split()[0] == "mystery"
    _, out, _ = run(capsys, "cost", "--db", filled.path, "--json")
    assert [row["model"] for row in json.loads(out)] == ["gpt-4o", "mystery"]
    _, out, _ = run(capsys, "cost", "--db", filled.path, "--csv", "--by", "session")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["session"], r["cost_usd"]) for r in rows] == [("s1", "1.5"), ("s2", "0.5")]


def test_a_budget_exceeded_exits_3(filled: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "cost", "--db", filled.path, "--since", "today", "--budget", "100")[0] == 0
    code, _, err = run(capsys, "cost", "--db", filled.path, "--since", "24h", "--budget", "1")
    assert code == 3
    assert "cost $2.0000 is over the budget of $1" in err


def test_traces_trace_errors_sessions_session(filled: Store, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "traces", "--db", filled.path, "--json", "--limit", "2")
    page = json.loads(out)
    assert len(page["items"]) == 2 and page["next_cursor"]
    _, out, _ = run(capsys, "traces", "--db", filled.path, "--json", "--cursor", page["next_cursor"])
    assert len(json.loads(out)["items"]) == 1
    first = page["items"][0]["trace_id"]
    _, out, _ = run(capsys, "trace", first, "--db", filled.path)
    assert "the question" in out and "the answer" in out
    _, out, _ = run(capsys, "errors", "--db", filled.path, "--by", "category", "--json")
    assert json.loads(out) == [{"category": "rate_limit", "errors": 1, "last_at": json.loads(out)[0]["last_at"]}]
    _, out, _ = run(capsys, "sessions", "--db", filled.path, "--sort", "recent", "--json")
    assert [s["session_id"] for s in json.loads(out)] == ["s1", "s2"]
    _, out, _ = run(capsys, "session", "s2", "--db", filled.path)
    assert "rate_limit" in out and "gpt-4o" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cost", "--by", "colour"], "by: unknown key 'colour'"),
        (["summary", "--since", "5 parsecs"], "since: '5 parsecs' is not a time"),
        (["summary", "--since", "1h", "--until", "2h"], "until"),
        (["traces", "--limit", "0"], "--limit 0 is out of range"),
        (["traces", "--limit", "5000"], "--limit 5000 is out of range"),
        (["traces", "--status", "maybe"], "status: 'maybe' is not a status"),
        (["trace", "no-such-id"], "no trace 'no-such-id'"),
        (["session", "no-such-session"], "no session 'no-such-session'"),
        (["errors", "--type", "oops"], "error_type: 'oops'"),
        (["summary", "--tz", "Mars/Olympus"], "tz: unknown time zone"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    filled: Store, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args, "--db", filled.path)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""


def test_a_missing_or_foreign_database_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "summary", "--db", str(tmp_path / "none.db"))
    assert (code, err.strip().splitlines()[0].startswith("openclaw-trace: no database at")) == (2, True)
    (tmp_path / "junk.db").write_bytes(b"\x00not sqlite" * 100)
    code, _, err = run(capsys, "traces", "--db", str(tmp_path / "junk.db"))
    assert code == 2 and "not a database openclaw-trace can read" in err
