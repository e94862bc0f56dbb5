"""The ``openclaw-trace`` command: ``serve``, ``status``, ``setup``, the read commands
(``summary``, ``cost``, ``traces``, ``trace``, ``errors``, ``sessions``, ``session``),
``metrics`` and ``push``.

Exit codes: 0 fine, 1 a failure at run time (port taken, database
unusable, daemon unreachable), 2 bad usage or a bad setting, 3 a budget
exceeded (``cost --budget``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from openclaw_trace import __version__, cli_metrics, cli_push, cli_read, cli_setup
from openclaw_trace.config import SETTINGS, ConfigError, default_db_path, load_config_or_say


def _settings_epilog() -> str:
    lines = ["settings (environment variable, flag, default):"]
    for setting in SETTINGS:
        default = setting.default or (default_db_path() if setting.name == "DB_PATH" else "(empty)")
        lines.append(f"  {setting.env_var:<22} {setting.flag:<20} default: {default}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openclaw-trace",
        description="Local-first observability sidecar for OpenClaw agent hosts.",
    )
    parser.add_argument("--version", action="version", version=f"openclaw-trace {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the daemon",
        description="Run the daemon. Every setting comes from its OCT_* environment"
        " variable; a flag given here wins over the variable.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for setting in SETTINGS:
        serve.add_argument(
            setting.flag,
            dest=setting.env_var,
            metavar="VALUE",
            help=f"{setting.help} [{setting.env_var}]".replace("%", "%%"),  # argparse formats help with %
        )

    status = commands.add_parser("status", help="show /health of a running daemon")
    status.add_argument("--url", help="daemon address (default: from OCT_HOST and OCT_PORT)")
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    cli_metrics.add_parser(commands)
    cli_push.add_parser(commands)
    cli_setup.add_parser(commands)
    cli_read.add_parsers(commands)
    mcp = commands.add_parser("mcp", help="serve the read queries as MCP tools on stdio (for agents)")
    mcp.add_argument("--db", help="database file (default: OCT_DB_PATH, else the per-user default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        overrides = {s.env_var: getattr(args, s.env_var) for s in SETTINGS if getattr(args, s.env_var) is not None}
        return _serve(overrides)
    if args.command == "status":
        return _status(args.url, args.json)
    if args.command == "metrics":
        return cli_metrics.run(args)
    if args.command == "push":
        return cli_push.run(args)
    if args.command == "setup":
        return cli_setup.run(args)
    if args.command in cli_read.COMMANDS:
        return cli_read.run(args)
    if args.command == "mcp":
        return _mcp(args.db)
    parser.print_help()
    return 2


def _serve(overrides: dict[str, str]) -> int:
    config = load_config_or_say(overrides)
    if config is None:
        return 2
    # Imported here so that `status` and `--help` stay quick and light.
    from openclaw_trace.daemon import Daemon
    from openclaw_trace.jsonlog import setup_logging

    setup_logging(config.log_level, config.log_format)
    try:
        daemon = Daemon(config)
    except ConfigError as exc:
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"openclaw-trace: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    except (sqlite3.Error, RuntimeError) as exc:
        print(f"openclaw-trace: cannot use database {config.db_path}: {exc}", file=sys.stderr)
        return 1
    return daemon.run()


def _mcp(db_path: str | None) -> int:
    if db_path is None:
        config = load_config_or_say()
        if config is None:
            return 2
        db_path = config.db_path
    try:
        from openclaw_trace import mcp_server
    except ImportError:
        print("openclaw-trace: the MCP server needs its extra: pip install 'openclaw-trace[mcp]'", file=sys.stderr)
        return 2
    return mcp_server.run(db_path)


def _status(url: str | None, as_json: bool) -> int:
    config = load_config_or_say()
    if config is None:
        return 2
    if url is None:
        host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
        url = f"http://{host}:{config.port}"
    request = urllib.request.Request(url.rstrip("/") + "/health")
    if config.read_token:  # /health shows its paths and errors to a reader only
        request.add_header("Authorization", f"Bearer {config.read_token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            report: dict[str, Any] = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"openclaw-trace: no daemon answering at {url}: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(format_health(report))
    return 0 if report.get("status") == "ok" else 1


def _ago(ms: int) -> str:
    seconds = max(0, ms) // 1000
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def format_feeds(feeds: dict[str, Any], uptime_s: float, now_ms: int) -> str:
    """One line per feed: what it delivered since the daemon started, and when last."""
    lines = [f"feeds (since the daemon started {_ago(int(uptime_s * 1000))}):"]
    for feed, figures in feeds.items():
        events, last_at_ms = figures.get("events", 0), figures.get("last_at_ms")
        said = "nothing" if not events else f"{events:,} events, the last {_ago(now_ms - int(last_at_ms or now_ms))}"
        lines.append(f"  {feed:<7} {said}")
    return "\n".join(lines)


def format_health(report: dict[str, Any]) -> str:
    """The feeds first, then the /health report as aligned ``name  value`` lines, nested values flattened."""
    head = ""
    feeds = report.get("feeds")
    if isinstance(feeds, dict):
        now_ms = time.time_ns() // 1_000_000
        head = format_feeds(feeds, float(report.get("uptime_seconds") or 0), now_ms) + "\n\n"
        report = {key: value for key, value in report.items() if key != "feeds"}
    rows: list[tuple[str, str]] = []

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append((prefix, "-" if value is None else str(value)))

    add("", report)
    width = max(len(name) for name, _ in rows)
    return head + "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
