"""The daemon's log lines: JSON for machines, one short line for people, chosen by OCT_LOG_FORMAT."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclaw_trace.jsonlog import setup_logging

STARTED = {
    "version": "0.1.0",
    "settings": {"host": "127.0.0.1", "port": 9090},
    "db_path": "/data/oct.db",
    "listen": "http://127.0.0.1:9090",
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    logging.getLogger("uvicorn.error").setLevel(logging.NOTSET)


def emit(log_format: str, stream: io.StringIO) -> list[str]:
    setup_logging("info", log_format, stream)
    log = logging.getLogger("openclaw_trace.daemon")
    log.info("openclaw-trace started", extra={"fields": STARTED})
    log.warning("disk nearly full", extra={"fields": {"free_mb": 12, "volumes": ["/", "/data"]}})
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    return stream.getvalue().splitlines()


def test_json_keeps_every_field_of_every_line() -> None:
    started, warned, uvicorn = (json.loads(line) for line in emit("json", io.StringIO()))
    assert started["msg"] == "openclaw-trace started"
    assert started["settings"] == STARTED["settings"] and started["listen"] == STARTED["listen"]
    assert (warned["level"], warned["free_mb"], warned["volumes"]) == ("warning", 12, ["/", "/data"])
    assert uvicorn["msg"] == "Started server process [1]"


def test_text_is_one_short_sentence_per_line_for_a_person() -> None:
    started, warned = emit("text", io.StringIO())
    assert started.endswith(" openclaw-trace 0.1.0 listening on http://127.0.0.1:9090, database /data/oct.db")
    assert warned.endswith(" warning: disk nearly full free_mb=12")  # a list field is JSON's only
    # uvicorn's own start line says nothing ours does not: not shown to a person.


def test_auto_writes_text_to_a_terminal_and_json_elsewhere() -> None:
    assert emit("auto", Terminal())[0].endswith("listening on http://127.0.0.1:9090, database /data/oct.db")
    assert json.loads(emit("auto", io.StringIO())[0])["msg"] == "openclaw-trace started"


def test_a_daemon_started_on_a_terminal_says_where_it_listens_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
    env.update(OCT_PORT="0", OCT_DB_PATH=str(tmp_path / "t.db"))
    controller, terminal = pty.openpty()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "openclaw_trace", "serve"], env=env, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    said = b""
    try:
        while b"listening on" not in said:
            said += os.read(controller, 4096)
    finally:
        daemon.terminate()
        daemon.wait(20)
        os.close(controller)
    line = next(line for line in said.decode().splitlines() if "listening on" in line)
    assert f"database {tmp_path / 't.db'}" in line and "{" not in line
