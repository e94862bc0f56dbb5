"""No secret leaks: one known secret in every secret-bearing setting, looked for everywhere the daemon speaks.

The daemon runs as a real process with the secret in the push endpoint (its
user, path and query), the push token and headers, and the ingest and read
tokens. It ingests, pushes to a real local receiver (failing once, then
taking the rows), and stops. The secret must then appear in none of: its log
lines, ``/health`` (with and without the read token), ``/metrics``,
``push_log``, the output of every CLI command, and the one-line errors of
settings mistyped or malformed around it. (Alert notifier URLs join the list
when alerts come: their URLs are secrets too.)
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Client
from tests.push.receiver import Receiver, Step
from tests.test_daemon import Process

CANARY = "c4nary-s3cret-7f3a"


def secret_settings(receiver: Receiver) -> dict[str, str]:
    port = receiver.url.rsplit(":", 1)[1]
    return {
        "OCT_PUSH_ENDPOINT": f"http://user:{CANARY}@127.0.0.1:{port}/services/T0/B0/{CANARY}?key={CANARY}",
        "OCT_PUSH_TOKEN": CANARY,
        "OCT_PUSH_HEADERS": f"X-Api-Key: {CANARY}",
        "OCT_INGEST_TOKEN": f"{CANARY}-ingest",
        "OCT_READ_TOKEN": f"{CANARY}-read",
        "OCT_PUSH_INTERVAL": "1s",
        "OCT_SCRUB_SECRETS": "true",
    }


def cli(env: dict[str, str], *args: str) -> str:
    """A CLI command's whole output, stdout and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "openclaw_trace", *args], env=env, capture_output=True, text=True, timeout=60
    )
    return done.stdout + done.stderr


def wait_for_pushes(db_path: str, ok: int) -> list[tuple[object, ...]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as conn:
            pushed = conn.execute("SELECT * FROM push_log").fetchall()
            if sum(1 for row in pushed if "ok" in row) >= ok:
                return pushed
        time.sleep(0.1)
    raise AssertionError("no successful push")


def test_a_secret_planted_in_every_secret_setting_is_said_nowhere(tmp_path: Path) -> None:
    heard: dict[str, str] = {}
    with Receiver([Step(500)]) as receiver:
        settings = secret_settings(receiver)
        daemon = Process(tmp_path, settings)
        try:
            port = daemon.wait_started()
            client = Client(port)
            ingest = {"Authorization": f"Bearer {CANARY}-ingest"}
            assert client.post("/v1/traces", {"provider": "p", "model": "m"}, ingest)[0] == 202
            assert client.post("/v1/errors", {"error_type": "crash", "message": "boom"}, ingest)[0] == 202
            assert client.post("/v1/traces", {"provider": "p", "model": "m"})[0] == 401
            pushed = wait_for_pushes(daemon.db_path, ok=1)
            heard["push_log"] = repr(pushed)
            heard["/health"] = repr(client.get("/health"))
            reader = {"Authorization": f"Bearer {CANARY}-read"}
            heard["/health as a reader"] = repr(client.request("GET", "/health", None, reader))
            heard["/metrics"] = repr(client.get("/metrics"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
            env.update(settings, OCT_DB_PATH=daemon.db_path, OCT_PORT=str(port))
            for command in (
                ["status"],
                ["status", "--json"],
                ["push", "--status"],
                ["push", "--status", "--json"],
                ["summary"],
                ["cost", "--by", "model"],
                ["traces"],
                ["errors"],
                ["sessions"],
                ["metrics"],
                ["books"],
            ):
                heard[" ".join(command)] = cli(env, *command)
            client.close()
            assert daemon.stop() == 0
        finally:
            daemon.close()
        heard["the daemon's log"] = daemon.log_path.read_text()
        assert receiver.records, "the push reached the receiver"
    for mistyped in (
        {"OCT_PUSH_TOKNE": CANARY},
        {"OCT_PUSH_HEADERS": f"X-Team: a, Bearer {CANARY}"},
        {"OCT_PUSH_ENDPOINT": f"hooks.example/services/{CANARY}"},
        {"OCT_INGEST_TOKEN": CANARY, "OCT_HOST": "0.0.0.0"},
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
        env.update(mistyped, OCT_DB_PATH=str(tmp_path / "never.db"))
        heard[f"serve with {sorted(mistyped)}"] = cli(env, "serve")
    leaks = [where for where, text in heard.items() if CANARY in text]
    assert leaks == [], {where: heard[where][:2000] for where in leaks}
