"""The plugin on a real OpenClaw gateway, wired by ``openclaw-trace setup openclaw``, per supported release.

Each release runs one scenario (harness.py): setup, a good turn and a turn
whose model answers HTTP 500 on every attempt, with the daemon's log tailer
on, then everything stopped through its real shutdown path. The tests read
what the daemon stored. ``make test-openclaw`` runs them (``OCT_REAL_GATEWAY=1``;
about 3 minutes a release, plus the first install of each); ``make test``
does not.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.realgateway.fake_model import COMPLETION_TOKENS, PROMPT_TOKENS, REPLY
from tests.realgateway.harness import DAEMON_PORT, GatewayRun, TurnResult, prerequisites

VERSIONS = os.environ.get("OCT_GATEWAY_VERSIONS", "2026.9.6 2026.8.2 2026.7.1").split()
SETTLE_TIMEOUT_S = 60.0
QUIET_S = 4.0

pytestmark = [
    pytest.mark.skipif(not os.environ.get("OCT_REAL_GATEWAY"), reason="make test-openclaw runs the real gateway"),
    pytest.mark.timeout(900),
]


@dataclass
class Outcome:
    run: GatewayRun
    good: TurnResult
    failing: TurnResult
    status: dict[str, Any]
    undo_output: str
    config_after_undo: dict[str, Any]

    def rows(self, sql: str) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.run.db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql)]
        finally:
            conn.close()

    def plugin_rows(self, table: str, where: str = "1") -> list[dict[str, Any]]:
        return self.rows(
            f"SELECT *, json_extract(metadata, '$.run_id') AS run_id FROM {table}"
            f" WHERE json_extract(metadata, '$.source') = 'openclaw-plugin' AND {where} ORDER BY created_at"
        )


def _plugin_row_count(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return sum(
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE json_extract(metadata, '$.source') = 'openclaw-plugin'"
            ).fetchone()[0]
            for table in ("llm_traces", "error_events")
        )
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _wait_until_quiet(run: GatewayRun) -> None:
    """Until the plugin's rows stop growing for QUIET_S (its join grace and flush timers have run)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = _plugin_row_count(run.db_path)
        if count != last:
            last, quiet_since = count, time.monotonic()
        elif count > 0 and time.monotonic() - quiet_since >= QUIET_S:
            return
        time.sleep(0.5)


def _status(run: GatewayRun) -> dict[str, Any]:
    command = [sys.executable, "-m", "openclaw_trace", "status", "--url", f"http://127.0.0.1:{DAEMON_PORT}", "--json"]
    done = run.in_namespace(command, timeout_s=30)
    return json.loads(done.stdout) if done.stdout.strip() else {"error": done.stderr}


@pytest.fixture(scope="module", params=VERSIONS)
def outcome(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    problem = prerequisites()
    if problem:
        pytest.fail(problem)  # asked for with OCT_REAL_GATEWAY: a missing tool is a failure, not a skip
    run = GatewayRun(version=request.param, folder=tmp_path_factory.mktemp(f"openclaw-{request.param}"))
    try:
        run.prepare()
        run.start()
        good = run.turn("Say hello.")
        failing = run.turn("This one fails upstream.", fail_status=500)
        _wait_until_quiet(run)
        status = _status(run)
    finally:
        run.stop()
    undo_output = run.run_setup("--undo")
    config_after_undo = json.loads(run.config_path.read_text())
    run.run_setup("--dry-run")
    assert json.loads(run.config_path.read_text()) == config_after_undo, "a dry run changes nothing"
    yield Outcome(run, good, failing, status, undo_output, config_after_undo)


def test_the_good_turn_is_one_trace_with_text_tokens_cost_latency_and_ids(outcome: Outcome) -> None:
    assert outcome.good.exit_code == 0, outcome.good.output[-2000:]
    good = outcome.plugin_rows("llm_traces", "status = 'ok'")
    assert len(good) == 1, good
    trace = good[0]
    assert (trace["provider"], trace["model"]) == ("fakellm", "fake-model")
    assert trace["input_text"].endswith("Say hello.")
    assert trace["output_text"] == REPLY
    assert (trace["prompt_tokens"], trace["completion_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    # The fake model's price is $1 / $2 per million tokens (harness.base_config).
    assert trace["cost_usd"] == pytest.approx((PROMPT_TOKENS * 1.0 + COMPLETION_TOKENS * 2.0) / 1e6)
    assert trace["cost_source"] == "reported"
    assert trace["latency_ms"] > 0
    assert trace["agent_id"] == "main"
    assert trace["session_id"] == outcome.good.json()["result"]["meta"]["agentMeta"]["sessionId"]
    assert trace["run_id"] == outcome.good.json()["runId"]


def test_each_failed_attempt_is_a_failed_trace_and_an_llm_error_with_category_and_status(outcome: Outcome) -> None:
    assert outcome.failing.exit_code != 0
    failed_traces = outcome.plugin_rows("llm_traces", "status = 'error'")
    errors = outcome.plugin_rows("error_events", "error_type = 'llm_error'")
    assert len(failed_traces) >= 1  # 2026.9 retries a call that failed with HTTP 500 (7 attempts); 2026.7/8 do not
    assert len(errors) == len(failed_traces)
    for error in errors:
        assert error["category"] == "server_error"
        assert json.loads(error["metadata"])["http_status"] == 500
        assert (error["provider"], error["model"], error["agent_id"]) == ("fakellm", "fake-model", "main")
    assert {e["run_id"] for e in errors} == {t["run_id"] for t in failed_traces} == {errors[0]["run_id"]}


def test_the_failed_run_is_one_crash(outcome: Outcome) -> None:
    crashes = outcome.plugin_rows("error_events", "error_type = 'crash'")
    assert len(crashes) == 1, crashes
    errors = outcome.plugin_rows("error_events", "error_type = 'llm_error'")
    assert crashes[0]["run_id"] == errors[0]["run_id"]
    assert crashes[0]["category"] == "server_error"
    assert json.loads(crashes[0]["metadata"])["failed_attempts"] == len(errors)


def test_the_log_tailer_adds_nothing_the_plugin_already_said(outcome: Outcome) -> None:
    plugin_runs = {json.loads(row["metadata"]).get("w3c_trace_id") for row in outcome.plugin_rows("error_events")} - {
        None
    }
    duplicates = outcome.rows(
        "SELECT message FROM error_events WHERE json_extract(metadata, '$.source') = 'gateway_log'"
        " AND error_type IN ('llm_error', 'crash')"
        f" AND json_extract(metadata, '$.trace_id') IN ({','.join(repr(t) for t in plugin_runs) or 'NULL'})"
    )
    assert duplicates == []
    assert outcome.rows("SELECT count(*) AS n FROM gateway_events")[0]["n"] > 0, "the tailer did run"


def test_status_shows_what_the_plugin_delivered(outcome: Outcome) -> None:
    feeds = outcome.status["feeds"]
    # Taken once the plugin's rows had settled, before the gateway's stop (which may send a last one).
    assert 0 < feeds["plugin"]["events"] <= _plugin_row_count(outcome.run.db_path)
    assert feeds["plugin"]["last_at_ms"] is not None
    assert feeds["log"]["events"] > 0


def test_the_gateway_never_saw_an_error_of_ours_nor_a_log_loop(outcome: Outcome) -> None:
    log = (outcome.run.folder / "gateway.out").read_text(errors="replace")
    ours = [line for line in log.splitlines() if "openclaw-trace" in line]
    assert any("openclaw-trace: sending to http://127.0.0.1:9090" in line for line in ours)
    assert not [line for line in ours if "handler failed" in line or "dropped" in line]
    assert len(ours) < 50, ours[-10:]


def test_setup_says_the_text_is_stored_as_it_came_and_how_to_scrub_it(outcome: Outcome) -> None:
    said = outcome.run.setup_output
    assert "stored on this host as they came" in said and "OCT_SCRUB_SECRETS=true" in said, said


def test_setup_undo_takes_the_plugin_out_of_the_config(outcome: Outcome) -> None:
    assert "restore the plugin's settings" in outcome.undo_output
    plugins = outcome.config_after_undo.get("plugins", {})
    assert "openclaw-trace" not in plugins.get("entries", {})
    assert not [path for path in plugins.get("load", {}).get("paths", []) if "openclaw" in Path(path).name]
