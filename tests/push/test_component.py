"""The push component inside a real daemon: wiring, /health, the final push, SIGTERM during a push."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows
from tests.push.receiver import Receiver, Recorded, Step
from tests.test_daemon import Process


def wait_until(predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("condition not reached before the deadline")


def acked_trace_ids(records: list[Recorded]) -> set[str]:
    return {e["trace_id"] for r in records if r.status and r.status < 300 for e in r.json()["events"]}


def test_push_off_means_no_component_and_no_thread(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="openclaw_trace.daemon"):
        daemon = make_daemon()
    # Said once, at info: push off is a default, not something wrong.
    assert [(r.levelname, r.getMessage()) for r in caplog.records if "push is off" in r.getMessage()] == [
        ("INFO", "push is off: OCT_PUSH_ENDPOINT is not set, stored rows stay on this host")
    ]
    assert "push" not in [c.name for c in daemon.components]
    assert not [t for t in threading.enumerate() if t.name == "oct-push"]
    report = connect(daemon).health()
    assert report["last_push_time"] is None and report["last_push_status"] is None


def test_daemon_pushes_on_its_interval_and_health_shows_it(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    with Receiver() as receiver:
        daemon = make_daemon(push_endpoint=receiver.url, push_interval=0.2)
        assert daemon.components[-1].name == "push"  # last: stops after the drain
        client = connect(daemon)
        assert client.post("/v1/traces", [{"provider": "p", "model": f"m{i}"} for i in range(20)])[0] == 202
        assert client.post("/v1/errors", {"error_type": "crash", "message": "boom"})[0] == 202
        wait_until(lambda: len(acked_trace_ids(receiver.records)) == 21)
        report = wait_until(lambda: (h := client.health())["unsynced_count"] == 0 and h["last_push_status"] and h)
        daemon.stop()  # while the receiver still answers: the final push is quick
    assert report["last_push_status"] == "ok"
    # The start of a cycle the push component recorded, as push_log holds it.
    started = {r["started_at"] for r in rows(daemon.config.db_path, "SELECT started_at FROM push_log")}
    assert report["last_push_time"] in started
    assert report["push"]["circuit"] == "closed"
    assert report["push"]["rows_pushed"] == 21
    assert report["push"]["endpoint"] == receiver.url
    assert report["counters"]["push.rows_pushed"] == 21
    ledger = receiver.records[0].json()["ledger"]
    assert ledger["received"]["trace"] == 20


def test_final_push_after_the_drain_on_stop(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    with Receiver() as receiver:
        daemon = make_daemon(push_endpoint=receiver.url, push_interval=3600)
        client = connect(daemon)
        client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 30)
        daemon.stop()
        assert len(acked_trace_ids(receiver.records)) == 30
    db = daemon.config.db_path
    assert rows(db, "SELECT count(*) AS n FROM llm_traces WHERE synced = 1 AND pushed_at IS NOT NULL")[0]["n"] == 30
    assert rows(db, "SELECT status, events FROM push_log") == [{"status": "ok", "events": 30}]


def _integrity(db_path: str) -> str:
    check = sqlite3.connect(db_path)
    try:
        return str(check.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        check.close()


@pytest.mark.slow
@pytest.mark.parametrize("in_flight", ["finishes", "hangs"])
def test_sigterm_during_a_push(tmp_path: Path, in_flight: str) -> None:
    delay_s = 1.5 if in_flight == "finishes" else 60.0
    with Receiver([Step(delay_s=delay_s)]) as receiver:
        proc = Process(
            tmp_path,
            {"OCT_PUSH_ENDPOINT": receiver.url, "OCT_PUSH_INTERVAL": "1s", "OCT_SHUTDOWN_TIMEOUT": "5s"},
        )
        try:
            proc.wait_started()
            client = Client(proc.port)
            assert client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 50)[0] == 202
            client.close()
            receiver.wait_for(1)  # the first push is on the wire, held by the receiver
            started = time.monotonic()
            assert proc.stop(timeout_s=20) == 0
            stop_s = time.monotonic() - started
        finally:
            if proc.proc.poll() is None:
                proc.proc.kill()
                proc.proc.wait()
            proc.log_file.close()
        records = list(receiver.records)
    assert stop_s < 5 + 2  # the deadline (5 s) and process exit
    assert _integrity(proc.db_path) == "ok"
    synced = {r["trace_id"] for r in rows(proc.db_path, "SELECT trace_id FROM llm_traces WHERE synced = 1")}
    assert synced <= acked_trace_ids(records)  # nothing marked without its 2xx
    assert len(records) >= 2  # the final push was attempted
    messages = [line.get("msg") for line in proc.log_lines()]
    assert "final push" in messages


@pytest.mark.parametrize("push_format", ["json", "otlp"])
def test_with_scrubbing_on_no_secret_leaves_the_host_in_a_push(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client], push_format: str
) -> None:
    key = "sk-ant-api03-" + "k" * 40
    with Receiver() as receiver:
        daemon = make_daemon(push_endpoint=receiver.url, push_interval=0.2, push_format=push_format, scrub_secrets=True)
        client = connect(daemon)
        trace = {"provider": "p", "model": "m", "input_text": f"my key is {key}", "metadata": {"env": key}}
        assert client.post("/v1/traces", trace)[0] == 202
        assert client.post("/v1/errors", {"error_type": "crash", "message": f"401 with {key}"})[0] == 202
        wait_until(lambda: (h := client.health())["unsynced_count"] == 0 and h["last_push_status"] == "ok")
        daemon.stop()
    sent = b"".join(record.body for record in receiver.records)
    assert sent and key.encode() not in sent
    assert b"[REDACTED]" in sent
