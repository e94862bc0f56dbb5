"""OCT_SCRUB_SECRETS: planted keys never reach the database; off, text is stored as sent."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from openclaw_trace.daemon import Daemon
from openclaw_trace.scrub import REDACTED
from tests.conftest import Client, rows

OPENAI_KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
TRACE = {
    "provider": "openai",
    "model": "gpt-4o",
    "input_text": f"my .env has OPENAI_API_KEY={OPENAI_KEY}, fix it",
    "output_text": "Never paste keys.",
    "metadata": {"request_headers": {"authorization": f"Bearer {TOKEN}"}, "attempt": 2},
}
ERROR = {"error_type": "crash", "message": f"boto failed for {AWS_KEY}", "stack_trace": f"at s3 ({AWS_KEY})"}


def everything_stored(db_path: str) -> str:
    traces = rows(db_path, "SELECT input_text, output_text, metadata FROM llm_traces")
    errors = rows(db_path, "SELECT message, stack_trace FROM error_events")
    return json.dumps([traces, errors])


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_with_scrubbing_on_no_planted_key_is_stored_and_health_counts_them(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], writer: str
) -> None:
    daemon = make_daemon(scrub_secrets=True, writer=writer)
    client = connect(daemon)
    assert client.post("/v1/traces", TRACE)[0] == 202
    assert client.post("/v1/errors", ERROR)[0] == 202
    assert daemon.writer.flush(10)
    stored = everything_stored(daemon.config.db_path)
    for secret in (OPENAI_KEY, AWS_KEY, TOKEN):
        assert secret not in stored
    [trace] = rows(daemon.config.db_path, "SELECT input_text, output_text, metadata FROM llm_traces")
    assert trace["input_text"] == f"my .env has OPENAI_API_KEY={REDACTED}, fix it"
    assert trace["output_text"] == "Never paste keys."
    assert json.loads(trace["metadata"]) == {"request_headers": {"authorization": f"Bearer {REDACTED}"}, "attempt": 2}
    assert client.health()["counters"]["scrub.redacted"] == 4


def test_by_default_text_is_stored_as_sent(daemon: Daemon, client: Client) -> None:
    assert daemon.config.scrub_secrets is False
    assert client.post("/v1/traces", TRACE)[0] == 202
    assert daemon.writer.flush(5)
    [trace] = rows(daemon.config.db_path, "SELECT input_text FROM llm_traces")
    assert trace["input_text"] == TRACE["input_text"]
    assert "scrub.redacted" not in client.health()["counters"]
