"""The ``openclaw-trace`` command: ``serve``, ``status``, ``setup``, the read commands
(``summary``, ``cost``, ``traces``, ``trace``, ``errors``, ``sessions``, ``session``),
``metrics`` and ``push``.

Exit codes: 0 fine, 1 a failure at run time (port taken, database
unusable, daemon unreachable), 2 bad usage or a bad setting, 3 a budget
exceeded (``cost --budget``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from openclaw_trace import __version__, cli_metrics, cli_push, cli_read, cli_setup, cli_status
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
        # --db as every other command spells it, beside the setting's own --db-path.
        flags = (setting.flag, "--db") if setting.name == "DB_PATH" else (setting.flag,)
        serve.add_argument(
            *flags,
            dest=setting.env_var,
            action=_SettingFlag,
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
        return _serve(overrides, getattr(args, _TYPED_FLAGS, {}))
    if args.command == "status":
        config = load_config_or_say()
        return 2 if config is None else cli_status.run(config, args.url, args.json)
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


# Where ``_SettingFlag`` notes which spelling of each setting's flag was typed.
_TYPED_FLAGS = "typed_flags"


class _SettingFlag(argparse.Action):
    """Stores a ``serve`` flag's value, and notes the flag as typed, so that an error can name it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        typed: dict[str, str] = vars(namespace).setdefault(_TYPED_FLAGS, {})
        typed[self.dest] = option_string or self.option_strings[0]


def check_flag_values(overrides: Mapping[str, str], typed_flags: Mapping[str, str]) -> None:
    """Raise ``ConfigError`` naming the flag as typed (``--port``) for the first value its setting refuses.

    Checked before ``load_config``, which knows the value only by its variable
    (``OCT_PORT``): a user who typed ``--port abc`` looks for ``--port``.
    """
    for setting in SETTINGS:
        raw = overrides.get(setting.env_var)
        if raw is None:
            continue
        try:
            setting.parse(raw)
        except ValueError as exc:
            flag = typed_flags.get(setting.env_var, setting.flag)
            raise ConfigError(flag, raw, str(exc), hidden=setting.secret) from None


def _serve(overrides: dict[str, str], typed_flags: Mapping[str, str]) -> int:
    try:
        check_flag_values(overrides, typed_flags)
    except ConfigError as exc:
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return 2
    config = load_config_or_say(overrides)
    if config is None:
        return 2
    # Imported here so that `status` and `--help` stay quick and light.
    from openclaw_trace.daemon import Daemon, StartError
    from openclaw_trace.jsonlog import setup_logging

    setup_logging(config.log_level, config.log_format)
    try:
        daemon = Daemon(config)
    except ConfigError as exc:
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return 2
    except StartError as exc:  # the database or the port, each error said about what failed
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return 1
    try:
        return daemon.run()
    except StartError as exc:  # a part that could not start (logged above with its traceback)
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return 1


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
