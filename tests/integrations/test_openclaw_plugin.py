"""The OpenClaw plugin end to end: the payloads recorded from a real gateway,
replayed through the plugin by Node against a real daemon, land as rows."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import rows

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "integrations" / "openclaw"
REPLAY = PLUGIN_DIR / "scripts" / "replay.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH; the OpenClaw plugin runs on Node.js")

SESSION_ID = "6fa1036b-ee1f-4cba-a226-2b01831fd2dc"
GOOD_RUN = "6aa3ac67-242f-41dc-b284-0bfc0ebf691d"
FAILED_RUN = "52b431bb-8743-40be-98f4-cbb35ebd8a32"


def replay(daemon: Daemon, token: str = "") -> tuple[int, dict[str, Any]]:
    """Run scripts/replay.js against ``daemon``; its exit status and the plugin's counters."""
    assert NODE is not None
    endpoint = f"http://127.0.0.1:{daemon.port}"
    done = subprocess.run(
        [NODE, str(REPLAY), "--endpoint", endpoint, "--token", token],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout, done.stderr
    counters: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, counters


def test_recorded_turns_land_as_rows(daemon: Daemon) -> None:
    code, counters = replay(daemon)
    assert code == 0, counters
    assert counters["sent"] == {"traces": 2, "errors": 2}
    assert counters["droppedTotal"] == 0
    assert daemon.writer.flush(5)

    good, failed = rows(daemon.config.db_path, "SELECT * FROM llm_traces ORDER BY latency_ms DESC")
    assert {k: good[k] for k in ("provider", "model", "status", "error_type", "session_id", "agent_id", "channel")} == {
        "provider": "fakellm",
        "model": "fake-model",
        "status": "ok",
        "error_type": None,
        "session_id": SESSION_ID,
        "agent_id": "main",
        "channel": "http",
    }
    assert good["input_text"] == "[Sun 2026-11-22 04:57 UTC] Second turn: what is the answer?"
    assert good["output_text"] == "Hello from the fake model. The answer is 42."
    assert (good["prompt_tokens"], good["completion_tokens"], good["total_tokens"]) == (321, 12, 333)
    assert (good["cache_read_tokens"], good["cache_write_tokens"]) == (0, 0)
    assert good["cost_usd"] == pytest.approx(0.000345)
    assert good["cost_source"] == "reported"
    assert good["latency_ms"] == pytest.approx(287)
    metadata = json.loads(good["metadata"])
    assert metadata["run_id"] == GOOD_RUN
    assert metadata["call_id"] == f"{GOOD_RUN}:model:1"
    assert metadata["session_key"] == "agent:main:main"
    assert metadata["time_to_first_byte_ms"] == 105
    assert metadata["w3c_trace_id"] == "9d7fe68ba6d0b5103be16ec760bdc556"
    assert metadata["w3c_span_id"] == "f022d9d011331823"

    assert failed["status"] == "error"
    assert failed["error_type"] == "server_error"
    assert failed["latency_ms"] == pytest.approx(34)
    assert (failed["input_text"], failed["output_text"]) == (None, None)
    assert (failed["prompt_tokens"], failed["completion_tokens"], failed["total_tokens"]) == (0, 0, 0)
    assert json.loads(failed["metadata"])["run_id"] == FAILED_RUN

    crash, error = rows(daemon.config.db_path, "SELECT * FROM error_events ORDER BY error_type")
    assert (crash["error_type"], crash["category"]) == ("crash", "server_error")
    assert crash["message"] == "agent run failed after 1 attempt(s): 500 fake upstream failure"
    assert json.loads(crash["metadata"])["run_id"] == FAILED_RUN
    assert {k: error[k] for k in ("error_type", "category", "severity", "message", "provider", "model")} == {
        "error_type": "llm_error",
        "category": "server_error",
        "severity": "error",
        "message": "500 fake upstream failure",
        "provider": "fakellm",
        "model": "fake-model",
    }
    assert (error["session_id"], error["agent_id"]) == (SESSION_ID, "main")
    error_metadata = json.loads(error["metadata"])
    assert error_metadata["run_id"] == FAILED_RUN
    assert error_metadata["http_status"] == 500
    assert error_metadata["error_code"] == "fake_fail"
    assert json.loads(error_metadata["error_body"])["message"] == "fake upstream failure"


def test_token_is_sent_and_a_wrong_one_is_counted_not_raised(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon(ingest_token="s3cret")

    code, counters = replay(daemon, token="wrong")
    assert code == 1
    assert counters["dropped"] == {"unauthorized": 4}
    assert counters["handlerErrors"] == 0

    code, counters = replay(daemon, token="s3cret")
    assert code == 0, counters
    assert daemon.writer.flush(5)
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == 2
    assert len(rows(daemon.config.db_path, "SELECT id FROM error_events")) == 2
