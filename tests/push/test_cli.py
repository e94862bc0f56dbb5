"""``openclaw-trace push --once`` and ``push --status`` over a real database and a real receiver."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openclaw_trace.cli import main
from tests.conftest import rows
from tests.push.conftest import Store
from tests.push.receiver import Receiver, closed_port_url


@pytest.fixture
def env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    for name in ("OCT_PUSH_ENDPOINT", "OCT_PUSH_TOKEN", "OCT_PUSH_HEADERS", "OCT_PUSH_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCT_DB_PATH", store.db_path)
    return store


def test_push_once_pushes_and_records_the_cycle(
    env: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.add("trace", 7)
    with Receiver() as receiver:
        monkeypatch.setenv("OCT_PUSH_ENDPOINT", receiver.url)
        monkeypatch.setenv("OCT_PUSH_TOKEN", "very-secret")
        code = main(["push", "--once", "--json"])
        assert len([e for r in receiver.records for e in r.json()["events"]]) == 7
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["events"] == 7
    assert "very-secret" not in out
    assert rows(env.db_path, "SELECT count(*) AS n FROM llm_traces WHERE synced = 1")[0]["n"] == 7
    assert [r["status"] for r in rows(env.db_path, "SELECT status FROM push_log")] == ["ok"]


def test_push_once_without_an_endpoint_is_a_usage_error(env: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--once"]) == 2
    assert "OCT_PUSH_ENDPOINT" in capsys.readouterr().err


def test_push_once_against_a_down_receiver_fails_and_marks_nothing(
    env: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.add("error", 2)
    monkeypatch.setenv("OCT_PUSH_ENDPOINT", closed_port_url())
    assert main(["push", "--once", "--timeout", "3"]) == 1
    assert "connection refused" in capsys.readouterr().out
    assert rows(env.db_path, "SELECT count(*) AS n FROM error_events WHERE synced = 1")[0]["n"] == 0


def test_push_status_shows_recent_cycles(
    env: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["push", "--status"]) == 0
    assert "no push cycles" in capsys.readouterr().out
    env.add("trace", 1)
    monkeypatch.setenv("OCT_PUSH_ENDPOINT", closed_port_url())
    main(["push", "--once", "--timeout", "3"])
    with Receiver() as receiver:
        monkeypatch.setenv("OCT_PUSH_ENDPOINT", receiver.url)
        main(["push", "--once"])
    capsys.readouterr()
    assert main(["push", "--status"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["started_at", "status", "events"]
    assert [line.split()[2] for line in table[1:]] == ["ok", "failed"]  # newest first (after date and time)
    assert main(["push", "--status", "--json", "--limit", "1"]) == 0
    found: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert len(found) == 1 and found[0]["status"] == "ok" and found[0]["events"] == 1
