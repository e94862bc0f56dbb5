"""``openclaw-trace setup openclaw``: wire an OpenClaw gateway to this daemon, or take it back.

Finds the ``openclaw`` command and the gateway's config (``--state-dir`` /
``OPENCLAW_STATE_DIR``, ``--config`` / ``OPENCLAW_CONFIG_PATH``), then,
through OpenClaw's own CLI: installs the plugin shipped in this package
(linked, so upgrading openclaw-trace upgrades it), enables it, points it at
the daemon and grants it the conversation (or not: ``--no-text``), and, when
OpenClaw's OTLP exporter is installed and asked for, turns its metrics on.
It prints every change, asks first on a terminal (``--yes`` or no terminal:
the recommended setup without asking), and keeps what it changed beside the
gateway's config so that ``--undo`` restores it. ``--dry-run`` changes
nothing. Exit codes: 0 done, 1 OpenClaw refused or is missing, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any

from openclaw_trace.config import load_config_or_say
from openclaw_trace.config_types import endpoint_label
from openclaw_trace.setup.openclaw_cli import (
    OTEL_PLUGIN_ID,
    PLUGIN_ID,
    OpenClawCli,
    OpenClawError,
    child_env,
    find_openclaw,
)
from openclaw_trace.setup.plan import Choices, SetupRecord, Step, setup_plan, undo_plan

MIN_OPENCLAW = (2026, 7, 1)
RECORD_NAME = "openclaw-trace-setup.json"


def add_parser(commands: Any) -> None:
    """Register ``setup`` on the CLI's subparsers."""
    setup = commands.add_parser("setup", help="connect OpenClaw to this sidecar (plugin, OTLP exporter, log)")
    targets = setup.add_subparsers(dest="target", metavar="TARGET", required=True)
    openclaw = targets.add_parser("openclaw", help="install and configure the OpenClaw plugin through openclaw's CLI")
    openclaw.add_argument("--yes", "-y", action="store_true", help="apply the recommended setup without asking")
    openclaw.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    openclaw.add_argument("--undo", action="store_true", help="take back what an earlier setup changed")
    openclaw.add_argument("--no-text", action="store_true", help="send numbers only: no prompt or answer text")
    openclaw.add_argument("--otlp", action="store_true", help="also turn on OpenClaw's OTLP exporter (metrics)")
    openclaw.add_argument("--endpoint", help="the daemon's URL (default: from OCT_HOST and OCT_PORT)")
    openclaw.add_argument("--state-dir", help="the gateway's state folder [OPENCLAW_STATE_DIR]")
    openclaw.add_argument("--config", dest="config_path", help="the gateway's config file [OPENCLAW_CONFIG_PATH]")
    openclaw.add_argument("--openclaw", help="the openclaw command (default: the one on PATH)")


def run(args: argparse.Namespace) -> int:
    settings = load_config_or_say()
    if settings is None:
        return 2
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    endpoint = (args.endpoint or f"http://{host}:{settings.port}").rstrip("/")
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        # The plugin refuses a user or password in its URL (fetch cannot send them): say so here, first.
        print(
            f"openclaw-trace: --endpoint must be http(s)://host:port without a user or password"
            f" (got {endpoint_label(endpoint)}); the plugin sends OCT_INGEST_TOKEN as its token",
            file=sys.stderr,
        )
        return 2
    try:
        cli = OpenClawCli(find_openclaw(args.openclaw), child_env(args.state_dir, args.config_path))
        version = cli.version()
        if _parse_version(version) < MIN_OPENCLAW:
            oldest = ".".join(map(str, MIN_OPENCLAW))
            print(f"openclaw-trace: OpenClaw {version} is older than {oldest}, the oldest the plugin supports")
            return 1
        record_path = config_path(cli.env).parent / RECORD_NAME
        if args.undo:
            return _undo(cli, record_path, args.dry_run)
        return _setup(cli, version, record_path, endpoint, settings.ingest_token, args)
    except OpenClawError as exc:
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return 1


def _setup(
    cli: OpenClawCli, version: str, record_path: Path, endpoint: str, token: str, args: argparse.Namespace
) -> int:
    plugin_dir = plugin_directory()
    print(f"OpenClaw {version}, config {config_path(cli.env)}")
    plugin = cli.plugin(PLUGIN_ID)
    otel_plugin = cli.plugin(OTEL_PLUGIN_ID)
    ask = sys.stdin.isatty() and not args.yes and not args.dry_run
    capture_text = not args.no_text
    if ask and not args.no_text:
        print(
            "The plugin sends each prompt and answer (up to 16 KiB each) to openclaw-trace, which keeps them"
            " in its database on this host (OCT_SCRUB_SECRETS=true takes API keys out)."
        )
        capture_text = _confirm("Send prompt and answer text?", default=True)
    otlp = args.otlp
    if otel_plugin.installed and ask and not otlp:
        otlp = _confirm("Also send OpenClaw's own metrics (queues, memory, sessions) by its OTLP exporter?", False)
    if otlp and not otel_plugin.installed:
        print(
            f"note: OpenClaw's OTLP exporter is a separate plugin ({OTEL_PLUGIN_ID}) not installed here;"
            " install it with `openclaw plugins install clawhub:@openclaw/diagnostics-otel` and run setup again."
        )
        otlp = False
    choices = Choices(endpoint=endpoint, token=token, capture_text=capture_text, otlp_metrics=otlp)
    steps = setup_plan(choices, plugin_dir, plugin, cli.install_args(plugin_dir), otel_plugin)
    _print_plan("setup", steps)
    if args.dry_run:
        cli.config_patch(_patch_of(steps), dry_run=True)
        print("dry run: OpenClaw accepts these settings; nothing was changed.")
        return 0
    if ask and not _confirm("Apply?", default=True):
        print("nothing changed.")
        return 0
    record = _existing_record(record_path) or SetupRecord(
        plugin_dir=str(plugin_dir),
        installed_plugin=not plugin.installed,
        entry_before=cli.config_get(f"plugins.entries.{PLUGIN_ID}"),
    )
    if otlp and not record.otel_changed:
        record.otel_changed, record.otel_before = True, cli.config_get("diagnostics.otel")
        record.otel_plugin_enabled = not otel_plugin.enabled
    record_path.write_text(record.to_json())  # before the changes: an interrupted setup can still be undone
    _apply(cli, steps)
    _print_next_steps(cli, capture_text)
    return 0


def _undo(cli: OpenClawCli, record_path: Path, dry_run: bool) -> int:
    record = _existing_record(record_path)
    if record is None:
        print(f"openclaw-trace: nothing to undo: no {RECORD_NAME} beside the config ({record_path.parent})")
        return 1
    steps = undo_plan(record, cli.plugin(PLUGIN_ID))
    _print_plan("undo", steps)
    if dry_run:
        print("dry run: nothing was changed.")
        return 0
    _apply(cli, steps)
    record_path.unlink()
    print("Undone. Restart the gateway to apply: openclaw gateway restart")
    return 0


def _apply(cli: OpenClawCli, steps: list[Step]) -> None:
    for number, step in enumerate(steps, 1):
        print(f"[{number}/{len(steps)}] {step.title} ...", flush=True)
        if step.patch is not None:
            cli.config_patch(step.patch)
        else:
            cli.run(step.args)


def _print_plan(what: str, steps: list[Step]) -> None:
    print(f"The {what} runs:")
    for number, step in enumerate(steps, 1):
        print(f"  {number}. {step.title}\n     {step.shown()}")


def _print_next_steps(cli: OpenClawCli, capture_text: bool) -> None:
    print("Done. Restart the gateway to load the plugin: openclaw gateway restart")
    if not capture_text:
        print("Prompts and answers stay in the gateway: the plugin sends numbers and metadata only.")
    else:
        print(
            "Prompts and answers are stored on this host as they came; run the daemon with"
            " OCT_SCRUB_SECRETS=true to take API keys and tokens out before they are stored (and pushed)."
        )
    log_file = cli.log_file()
    folder = str(Path(os.path.expanduser(log_file)).parent) if log_file else "auto"
    print(f"For the gateway's own errors too, run the daemon with OCT_LOG_PATH={folder} (its log tailer).")
    print("Check with `openclaw-trace status`: the plugin feed counts events after the next agent turn.")


def _patch_of(steps: list[Step]) -> dict[str, Any]:
    return next(step.patch for step in steps if step.patch is not None)


def _existing_record(path: Path) -> SetupRecord | None:
    try:
        return SetupRecord.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise OpenClawError(f"cannot read {path}: {exc}") from None


def _confirm(question: str, default: bool) -> bool:
    answer = input(f"{question} [{'Y/n' if default else 'y/N'}] ").strip().lower()
    return default if not answer else answer.startswith("y")


def _parse_version(text: str) -> tuple[int, ...]:
    parts = text.lstrip("v").split("-", 1)[0].split(".")
    try:
        return tuple(int(part) for part in parts[:3])
    except ValueError:
        return (9999,)  # a build that does not say: assume it is new enough


def plugin_directory() -> Path:
    """The plugin shipped in this package (a link to integrations/openclaw in a source checkout)."""
    return Path(str(resources.files("openclaw_trace") / "openclaw_plugin")).resolve()


def config_path(env: dict[str, str]) -> Path:
    """The gateway's config file, found as OpenClaw finds it."""
    if env.get("OPENCLAW_CONFIG_PATH"):
        return Path(env["OPENCLAW_CONFIG_PATH"]).expanduser()
    state = env.get("OPENCLAW_STATE_DIR") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".openclaw")
    return Path(state).expanduser() / "openclaw.json"
