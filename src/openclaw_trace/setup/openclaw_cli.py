"""OpenClaw's own command line, as ``setup openclaw`` drives it.

Every change to a gateway's config goes through the ``openclaw`` command,
never through its files: OpenClaw validates the change against its schema
and the plugin's, keeps its backups, and (2026.9) applies it through a
running gateway. What this module relies on, checked on 2026.7.1, 2026.8.2
and 2026.9.6:

- ``openclaw --version`` prints ``OpenClaw 2026.9.6 (eb377ac)``;
- ``plugins list --json`` lists each plugin with ``id``, ``enabled`` and
  ``rootDir``; ``plugins install --link DIR`` needs ``--accept-capabilities
  --force`` to run without a terminal from 2026.8 (which 2026.7 does not
  know: ``plugins install --help`` tells which);
- ``config get PATH --json`` prints the value (exit 1 when unset);
  ``config patch --stdin`` applies a JSON merge patch in one validated write
  (``null`` deletes), with ``--dry-run --json`` to check it only;
- ``gateway status --no-probe --json`` names the gateway's log file.

Each command runs with ``OPENCLAW_LOG_LEVEL=silent``: OpenClaw copies a
command's messages into the gateway log, where our own tailer would read a
refused setting as a gateway error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLUGIN_ID = "openclaw-trace"
OTEL_PLUGIN_ID = "diagnostics-otel"
TIMEOUT_S = 120.0  # a plugin install took 13 s on a loaded 2-core machine
_VERSION = re.compile(r"^OpenClaw (\S+)")


class OpenClawError(Exception):
    """An ``openclaw`` command failed or could not run; the message is one line for the user."""


@dataclass(frozen=True)
class PluginState:
    """What ``plugins list`` says of one plugin."""

    installed: bool
    enabled: bool
    root_dir: str | None


def find_openclaw(given: str | None) -> str:
    """The ``openclaw`` command: ``given``, else the one on PATH."""
    found = shutil.which(given or "openclaw")
    if found is None:
        where = f"no executable {given!r}" if given else "no `openclaw` command on PATH"
        raise OpenClawError(f"{where}; install OpenClaw first or name it with --openclaw PATH")
    return found


class OpenClawCli:
    """Runs ``openclaw`` commands for one gateway (its state dir and config from the environment)."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.command = command
        self.env = {**env, "OPENCLAW_LOG_LEVEL": "silent"}

    def run(self, args: list[str], stdin: str | None = None) -> str:
        """Runs ``openclaw ARGS``; its standard output. Raises OpenClawError with its last words on failure."""
        try:
            done = subprocess.run(
                [self.command, *args],
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                env=self.env,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OpenClawError(f"`openclaw {' '.join(args[:2])}` took more than {TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise OpenClawError(f"cannot run {self.command}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            raise OpenClawError(f"`openclaw {' '.join(args[:2])}` failed: {_last_words(done.stdout + done.stderr)}")
        return done.stdout

    def version(self) -> str:
        output = self.run(["--version"]).strip()
        match = _VERSION.match(output)
        if match is None:
            raise OpenClawError(f"cannot tell the OpenClaw version from {output[:80]!r}")
        return match.group(1)

    def plugin(self, plugin_id: str) -> PluginState:
        listing = _json(self.run(["plugins", "list", "--json"]), "plugins list")
        plugins = listing.get("plugins", []) if isinstance(listing, dict) else listing
        for entry in plugins if isinstance(plugins, list) else []:
            if isinstance(entry, dict) and entry.get("id") == plugin_id:
                return PluginState(True, bool(entry.get("enabled")), entry.get("rootDir"))
        return PluginState(False, False, None)

    def install_args(self, plugin_dir: Path) -> list[str]:
        """``plugins install`` for a linked directory, in the form this release takes without a terminal."""
        args = ["plugins", "install", "--link", str(plugin_dir)]
        if "--accept-capabilities" in self.run(["plugins", "install", "--help"]):
            args += ["--accept-capabilities", "--force"]
        return args

    def config_get(self, path: str) -> Any:
        """The authored value at ``path``, or None when it is unset."""
        try:
            output = self.run(["config", "get", path, "--json"])
        except OpenClawError:
            return None  # unset (or unknown) paths exit 1
        value = _json(output, "config get")
        if isinstance(value, dict) and value.get("ok") is False and "error" in value:
            return None
        return value

    def config_patch(self, patch: dict[str, Any], dry_run: bool = False) -> None:
        args = ["config", "patch", "--stdin"] + (["--dry-run", "--json"] if dry_run else [])
        output = self.run(args, stdin=json.dumps(patch))
        if dry_run:
            checked = _json(output, "config patch --dry-run")
            if isinstance(checked, dict) and checked.get("ok") is False:
                raise OpenClawError(f"OpenClaw refuses the change: {json.dumps(checked.get('errors'))[:300]}")

    def log_file(self) -> str | None:
        """The gateway's log file as its config names it (raw: ``~`` and dates not expanded), or None."""
        try:
            status = _json(self.run(["gateway", "status", "--no-probe", "--json"]), "gateway status")
        except OpenClawError:
            return None
        found = status.get("logFile") if isinstance(status, dict) else None
        return found if isinstance(found, str) else None


def _json(output: str, what: str) -> Any:
    start = min((i for i in (output.find("{"), output.find("[")) if i >= 0), default=-1)
    try:
        return json.loads(output[start:]) if start >= 0 else None
    except ValueError:
        raise OpenClawError(f"`openclaw {what}` printed something that is not JSON") from None


def _last_words(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    reason = next((line for line in lines if "Reason:" in line), lines[-1] if lines else "no output")
    return reason.removeprefix("[openclaw] ")[:300]


def child_env(state_dir: str | None, config_path: str | None) -> dict[str, str]:
    """The environment of the ``openclaw`` commands: ours, with the chosen gateway's state dir and config."""
    env = dict(os.environ)
    if state_dir:
        env["OPENCLAW_STATE_DIR"] = state_dir
    if config_path:
        env["OPENCLAW_CONFIG_PATH"] = config_path
    return env
