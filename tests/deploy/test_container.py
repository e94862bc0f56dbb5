"""The container recipe: its HEALTHCHECK decides as documented, and its settings start the daemon.

No Docker is needed: the HEALTHCHECK command is read from the Dockerfile and run
here as the container would run it (``python`` and ``openclaw-trace`` on PATH, the
image's OCT_HOST), against a real daemon and against a /health that answers what
each case needs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openclaw_trace.config import ConfigError, load_config, refuse_an_open_bind
from openclaw_trace.daemon import Daemon

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
ENV_EXAMPLE = REPO / "deploy" / "openclaw-trace.env.example"
TOKENS = {"OCT_INGEST_TOKEN": "ingest-token-for-tests", "OCT_READ_TOKEN": "read-token-for-tests"}


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def image_environment() -> dict[str, str]:
    """The OCT_* variables the image's ENV instructions set."""
    env: dict[str, str] = {}
    for line in dockerfile_lines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return {key: value for key, value in env.items() if key.startswith("OCT_")}


def healthcheck_command() -> list[str]:
    [line] = [line for line in dockerfile_lines() if line.startswith("HEALTHCHECK ")]
    command = json.loads(line.split(" CMD ", 1)[1])
    assert isinstance(command, list)
    return command


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK command with the image's settings, the daemon on ``port``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OCT_")}
    env.update(image_environment())
    env.update(TOKENS)
    env["OCT_PORT"] = str(port)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(healthcheck_command(), env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture
def health_answering() -> Iterator[Callable[[str], int]]:
    """A /health on loopback that reports the status given; returns its port."""
    answer = {"status": "ok"}

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()

    def answering(status: str) -> int:
        answer["status"] = status
        return int(server.server_address[1])

    yield answering
    server.shutdown()
    server.server_close()
    thread.join()


def free_port_with_nothing_listening() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    server.server_close()
    return port


def test_the_healthcheck_passes_a_real_daemon(daemon: Daemon) -> None:
    result = run_healthcheck(daemon.port)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(("status", "healthy"), [("ok", True), ("degraded", True), ("error", False)])
def test_the_healthcheck_fails_only_on_error(
    health_answering: Callable[[str], int], status: str, healthy: bool
) -> None:
    """Degraded (push down, a queue-full burst, a refused log file) is not cured by a restart."""
    result = run_healthcheck(health_answering(status))
    assert (result.returncode == 0) is healthy, result.stdout + result.stderr
    assert result.stdout.strip() == status


def test_the_healthcheck_fails_when_nothing_answers() -> None:
    result = run_healthcheck(free_port_with_nothing_listening())
    assert result.returncode == 1
    assert result.stdout.startswith("no answer: openclaw-trace: no daemon answering")


def test_the_image_refuses_to_start_without_both_tokens() -> None:
    """OCT_HOST=0.0.0.0 in the image: the daemon needs the read and ingest tokens (or OCT_ALLOW_OPEN)."""
    image = image_environment()
    assert image["OCT_HOST"] == "0.0.0.0"
    assert image["OCT_DB_PATH"] == "/data/openclaw-trace.db"
    with pytest.raises(ConfigError, match="OCT_READ_TOKEN"):
        refuse_an_open_bind(load_config(image))
    with pytest.raises(ConfigError, match="OCT_INGEST_TOKEN"):
        refuse_an_open_bind(load_config({**image, "OCT_READ_TOKEN": "r"}))
    refuse_an_open_bind(load_config({**image, "OCT_READ_TOKEN": "r", "OCT_ALLOW_OPEN": "true"}))
    refuse_an_open_bind(load_config({**image, **TOKENS}))


def test_the_compose_settings_and_the_env_example_are_known_settings() -> None:
    """The daemon refuses an unknown OCT_* variable; an empty token counts as none."""
    compose = dict(re.findall(r"^\s+(OCT_[A-Z_]+): (.*)$", COMPOSE.read_text(), re.M))
    compose = {key: value.strip().strip('"') for key, value in compose.items()}
    assert compose == {"OCT_LOG_PATH": "/openclaw-logs", "OCT_GATEWAY_PROCESS_PATTERN": ""}
    example = dict(re.findall(r"^(OCT_[A-Z_]+)=(.*)$", ENV_EXAMPLE.read_text(), re.M))
    assert example == {"OCT_INGEST_TOKEN": "", "OCT_READ_TOKEN": ""}
    config = load_config({**image_environment(), **compose, **example})
    with pytest.raises(ConfigError):
        refuse_an_open_bind(config)
    refuse_an_open_bind(load_config({**image_environment(), **compose, **TOKENS}))
