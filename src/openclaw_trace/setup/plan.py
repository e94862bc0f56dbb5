"""What ``setup openclaw`` changes in a gateway, and how ``--undo`` takes it back. Pure: no I/O.

A plan is a list of steps, each one ``openclaw`` command (an argument list,
or a JSON merge patch for ``config patch --stdin``). Building the plan from
what the gateway has now is kept apart from running it, so ``--dry-run``
prints exactly what a real run would do, and the tests check plans without
a gateway.

The record of a setup (``SetupRecord``) keeps what the changed config paths
held before, so that ``--undo`` puts them back: the plugin's entry, and
``diagnostics.otel`` when the exporter was turned on. OpenClaw shows a
secret it holds as a placeholder; a patch that writes the placeholder back
keeps the secret, so the record never holds one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from openclaw_trace.setup.openclaw_cli import OTEL_PLUGIN_ID, PLUGIN_ID, PluginState

RECORD_VERSION = 1
_SECRET_KEYS = ("token", "headers")


@dataclass(frozen=True)
class Choices:
    """What the user chose (or the recommended setup, without a terminal)."""

    endpoint: str  # where the daemon listens, e.g. http://127.0.0.1:9090
    token: str  # the daemon's OCT_INGEST_TOKEN, or ""
    capture_text: bool  # prompts and answers go to the daemon (and the plugin may see the conversation)
    otlp_metrics: bool  # OpenClaw's OTLP exporter sends its metrics to the daemon


@dataclass(frozen=True)
class Step:
    title: str
    args: list[str]
    patch: dict[str, Any] | None = None  # the JSON merge patch piped to `config patch --stdin`

    def shown(self) -> str:
        """The step as a user reads it, secrets masked."""
        command = "openclaw " + " ".join(args_for_display(self.args))
        if self.patch is None:
            return command
        return f"{command} <<< '{json.dumps(mask_secrets(self.patch), separators=(',', ':'))}'"


@dataclass
class SetupRecord:
    """What a setup changed, kept beside the gateway's config for ``--undo``."""

    plugin_dir: str
    installed_plugin: bool  # setup ran `plugins install` (else it was installed already)
    entry_before: Any  # plugins.entries.openclaw-trace before, None when absent
    otel_changed: bool = False
    otel_before: Any = None
    otel_plugin_enabled: bool = False  # setup enabled diagnostics-otel
    version: int = field(default=RECORD_VERSION)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SetupRecord:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            raise ValueError("not a setup record of this version of openclaw-trace")
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def plugin_entry(choices: Choices) -> dict[str, Any]:
    """The plugin's entry in ``plugins.entries``: conversation access and its config."""
    config: dict[str, Any] = {"endpoint": choices.endpoint, "captureText": choices.capture_text}
    if choices.token:
        config["token"] = choices.token
    return {"enabled": True, "hooks": {"allowConversationAccess": choices.capture_text}, "config": config}


def otel_settings(endpoint: str) -> dict[str, Any]:
    """OpenClaw's exporter sending metrics only: the plugin records each model call, the log tailer the logs."""
    return {
        "enabled": True,
        "endpoint": endpoint,
        "protocol": "http/protobuf",
        "traces": False,
        "metrics": True,
        "logs": False,
    }


def setup_plan(
    choices: Choices,
    plugin_dir: Path,
    plugin: PluginState,
    install_args: list[str],
    otel_plugin: PluginState,
) -> list[Step]:
    """The steps that wire a gateway whose plugins are as given to the daemon at ``choices.endpoint``."""
    steps: list[Step] = []
    linked_here = plugin.installed and plugin.root_dir is not None and Path(plugin.root_dir) == plugin_dir
    if not linked_here:
        steps.append(Step(f"install the openclaw-trace plugin from {plugin_dir}", install_args))
    # Always: 2026.9 keeps a plugin disabled after an uninstall and a new install.
    steps.append(Step("enable the plugin", ["plugins", "enable", PLUGIN_ID]))
    patch: dict[str, Any] = {"plugins": {"entries": {PLUGIN_ID: plugin_entry(choices)}}}
    if choices.otlp_metrics:
        patch["diagnostics"] = {"enabled": True, "otel": otel_settings(choices.endpoint)}
    what = "point the plugin at the daemon" + (", turn on the OTLP exporter (metrics)" if choices.otlp_metrics else "")
    steps.append(Step(what, ["config", "patch", "--stdin"], patch))
    if choices.otlp_metrics and not otel_plugin.enabled:
        steps.append(Step("enable OpenClaw's OTLP exporter", ["plugins", "enable", OTEL_PLUGIN_ID]))
    return steps


def undo_plan(record: SetupRecord, plugin: PluginState) -> list[Step]:
    """The steps that take a setup back: uninstall what it installed, restore what it changed."""
    steps: list[Step] = []
    if record.installed_plugin and plugin.installed:
        steps.append(Step("uninstall the openclaw-trace plugin", ["plugins", "uninstall", PLUGIN_ID, "--force"]))
    patch: dict[str, Any] = {"plugins": {"entries": {PLUGIN_ID: record.entry_before}}}
    if record.otel_changed:
        patch["diagnostics"] = {"otel": record.otel_before}
    steps.append(Step("restore the plugin's settings as they were", ["config", "patch", "--stdin"], patch))
    if record.otel_plugin_enabled:
        steps.append(Step("disable OpenClaw's OTLP exporter again", ["plugins", "disable", OTEL_PLUGIN_ID]))
    return steps


def mask_secrets(value: Any) -> Any:
    """``value`` with every token and header value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            key: ("***" if key in _SECRET_KEYS and inner not in (None, "") else mask_secrets(inner))
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(inner) for inner in value]
    return value


def args_for_display(args: list[str]) -> list[str]:
    return [f"'{arg}'" if " " in arg else arg for arg in args]
