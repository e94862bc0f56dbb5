"""The settings table, and the frozen ``Config`` built from it.

One table (``SETTINGS``) drives the ``OCT_*`` environment variables, the
``serve --help`` flags and ``docs/configuration.md`` (a test keeps the doc in
step). ``load_config`` takes a mapping, so tests pass a dict; it is the only
place that reads settings, and it refuses a bad value instead of falling
back to the default.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import platformdirs

from openclaw_trace.config_types import (
    endpoint_label,
    int_range,
    one_of,
    parse_bool,
    parse_duration_s,
    parse_headers,
    parse_percent,
    parse_text,
    positive,
    size_range,
    user_uid,
)

ENV_PREFIX = "OCT_"
APP_NAME = "openclaw-trace"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One configurable value: its variable, parser, default (as text) and help."""

    name: str  # the variable without its prefix, e.g. "PORT"
    parse: Callable[[str], object]
    default: str
    help: str
    secret: bool = False  # its value may hold a credential: never shown, not even in an error

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name

    @property
    def field(self) -> str:
        return self.name.lower()

    @property
    def flag(self) -> str:
        return "--" + self.name.lower().replace("_", "-")


def default_db_path() -> str:
    """A per-user data directory, so a normal user needs no root on a fresh machine."""
    return str(Path(platformdirs.user_data_dir(APP_NAME)) / "openclaw-trace.db")


def _parse_db_path(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise ValueError("expected a file path")
    if "\x00" in stripped:
        raise ValueError("expected a file path without NUL characters")
    return str(Path(stripped).expanduser())


def _parse_host(text: str) -> str:
    stripped = text.strip()
    if not stripped or any(ch.isspace() for ch in stripped) or "/" in stripped:
        raise ValueError("expected an IP address or host name, such as 127.0.0.1")
    return stripped


def _parse_url(text: str) -> str:
    stripped = text.strip()
    if stripped and not stripped.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL, or empty to turn it off")
    return stripped.rstrip("/")


def _parse_user(text: str) -> str:
    if text.strip():
        user_uid(text)  # the user must exist now, not only when the tailer starts
    return text.strip()


def _parse_headers(text: str) -> str:
    """``Name: value`` pairs separated by commas or newlines; kept as text, checked by the pusher's parser."""
    parse_headers(text)
    return text.strip()


SETTINGS: tuple[Setting, ...] = (
    Setting("HOST", _parse_host, "127.0.0.1", "Address to listen on. Loopback by default."),
    Setting("PORT", int_range(0, 65535), "9090", "TCP port to listen on (0 picks a free one)."),
    Setting(
        "ALLOW_OPEN",
        parse_bool,
        "false",
        "Off loopback, start without OCT_INGEST_TOKEN anyway: anyone who reaches the port may then send events.",
    ),
    Setting(
        "DB_PATH",
        _parse_db_path,
        "",
        "SQLite database file. Parent directories are created; the file is"
        " readable by its owner only. Default: a per-user data directory.",
    ),
    Setting(
        "LOG_LEVEL",
        one_of("debug", "info", "warning", "error"),
        "info",
        "Level of the log lines written to stderr.",
    ),
    Setting(
        "LOG_FORMAT",
        one_of("auto", "json", "text"),
        "auto",
        "Log lines as JSON objects or as short text lines; auto: text on a terminal, JSON anywhere else.",
    ),
    Setting(
        "MAX_TEXT_BYTES",
        size_range(64, 64 * 1024 * 1024),
        "16384",
        "input_text/output_text/message/stack_trace are cut to this many UTF-8"
        " bytes before they are stored, never splitting a character.",
    ),
    Setting(
        "SCRUB_SECRETS",
        parse_bool,
        "false",
        "Replace API keys, bearer tokens and private keys in all stored text with [REDACTED]"
        " (done by the writer, off the 202 path).",
    ),
    Setting(
        "MAX_BODY_BYTES",
        size_range(1024, 256 * 1024 * 1024),
        "1MiB",
        "Largest request body accepted; larger bodies get 413, also when sent chunked without a Content-Length.",
    ),
    Setting(
        "REQUEST_TIMEOUT",
        positive(parse_duration_s),
        "10s",
        "A request must arrive whole (headers and body) this soon after its first byte"
        " (checked once a second); a slower one gets 408 and its connection is closed.",
    ),
    Setting(
        "IDLE_TIMEOUT",
        positive(parse_duration_s),
        "5s",
        "A connection that sends nothing for this long, after connecting or after a response, is closed.",
    ),
    Setting(
        "INGEST_TOKEN",
        parse_text,
        "",
        "When set, /v1/* requires 'Authorization: Bearer <token>'. Empty: no auth.",
        secret=True,
    ),
    Setting(
        "READ_TOKEN",
        parse_text,
        "",
        "When set, /api/* requires 'Authorization: Bearer <token>'. Required to listen off loopback.",
        secret=True,
    ),
    Setting(
        "PRICES_FILE",
        parse_text,
        "",
        "JSON file of model prices (USD per million tokens: input, output, cache_read,"
        " cache_write) that extends or overrides the shipped table.",
    ),
    Setting(
        "METRICS_INTERVAL",
        positive(parse_duration_s),
        "15s",
        "How often host metrics (CPU, memory, disk, I/O) are sampled.",
    ),
    Setting(
        "GATEWAY_PID_FILE",
        parse_text,
        "",
        "PID file of the OpenClaw gateway, whose CPU, RSS, threads and open files are sampled"
        " with the host metrics. Empty: find it by OCT_GATEWAY_PROCESS_PATTERN.",
    ),
    Setting(
        "GATEWAY_PROCESS_PATTERN",
        parse_text,
        "openclaw gateway",
        "Words that must all appear in the gateway's command line (case-insensitive) when no PID file is set.",
    ),
    Setting("RETENTION_DAYS", int_range(1, 3650), "3", "Rows older than this many days are deleted."),
    Setting(
        "ROLLUP_RETENTION_DAYS",
        int_range(1, 3650),
        "400",
        "Hourly cost rollups (cost history beyond the rows) older than this many days are deleted.",
    ),
    Setting("CLEANUP_INTERVAL", positive(parse_duration_s), "5m", "How often retention and size cleanup run."),
    Setting(
        "CLEANUP_DISK_THRESHOLD",
        parse_percent,
        "80",
        "When the database's volume is fuller than this (%), the oldest pushed rows are deleted first.",
    ),
    Setting(
        "CLEANUP_DB_THRESHOLD_BYTES",
        size_range(1024 * 1024, 2**50),
        "1GiB",
        "When the database file is larger than this, the oldest pushed rows are deleted first.",
    ),
    Setting(
        "WAL_CHECKPOINT_INTERVAL",
        positive(parse_duration_s),
        "10m",
        "At least this often a PASSIVE WAL checkpoint runs (also whenever the WAL grows).",
    ),
    Setting(
        "WAL_RESTART_THRESHOLD_BYTES",
        size_range(1024 * 1024, 2**40),
        "50MB",
        "A WAL file larger than this is checkpointed with RESTART and truncated.",
    ),
    Setting(
        "PUSH_ENDPOINT",
        _parse_url,
        "",
        "Where to push stored rows. Empty: push is off. Shown and stored only as scheme://host:port"
        " and a hash of the rest (a webhook's path often holds its secret).",
        secret=True,
    ),
    Setting("PUSH_INTERVAL", positive(parse_duration_s), "5m", "How often unpushed rows are pushed."),
    Setting(
        "PUSH_MAX_PAYLOAD_BYTES",
        size_range(1024, 256 * 1024 * 1024),
        "5MB",
        "Largest push request body; larger batches are split.",
    ),
    Setting("PUSH_FORMAT", one_of("json", "otlp"), "json", "Push as our JSON envelope or as OTLP/HTTP protobuf."),
    Setting("PUSH_TOKEN", parse_text, "", "Bearer token sent with every push.", secret=True),
    Setting(
        "PUSH_HEADERS",
        _parse_headers,
        "",
        "Extra push request headers: 'Name: value' pairs separated by commas.",
        secret=True,
    ),
    Setting(
        "LOG_PATH",
        parse_text,
        "",
        "OpenClaw gateway log to follow: a file, a directory, a glob, or 'auto'"
        " (/tmp/openclaw/openclaw-*.log). Empty: the log tailer is off. Only files and directories"
        " owned by this user, root or OCT_LOG_OWNER, and not writable by others, are read.",
    ),
    Setting(
        "LOG_OWNER",
        _parse_user,
        "",
        "The gateway's user (name or uid), when it is not the daemon's: the log tailer trusts its files too.",
    ),
    Setting(
        "SHUTDOWN_TIMEOUT",
        positive(parse_duration_s),
        "15s",
        "Deadline for a graceful stop: stop accepting, drain the queue, checkpoint, close.",
    ),
    Setting(
        "FAST_PATH",
        parse_bool,
        "true",
        "Answer ingest POSTs straight from the HTTP protocol (api/fast_path.py); false sends every"
        " request through the plain ASGI app: the same answers, more CPU per request. For a uvicorn"
        " release other than the one tested (the fast path reads its private state).",
    ),
    Setting(
        "WRITER",
        one_of("thread", "process"),
        "thread",
        "Where the single SQLite writer runs: 'thread' (inside the daemon) or 'process' (a child"
        " process with a GIL of its own: persists more under a flood, no faster at ordinary rates,"
        " ~19 MB more memory; docs/benchmarks.md).",
    ),
)

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved settings. Build it with ``load_config``; never mutated."""

    host: str = "127.0.0.1"
    port: int = 9090
    allow_open: bool = False
    db_path: str = dataclasses.field(default_factory=default_db_path)
    log_level: str = "info"
    log_format: str = "auto"
    max_text_bytes: int = 16384
    scrub_secrets: bool = False
    max_body_bytes: int = 1024 * 1024
    request_timeout: float = 10.0
    idle_timeout: float = 5.0
    ingest_token: str = ""
    read_token: str = ""
    prices_file: str = ""
    metrics_interval: float = 15.0
    gateway_pid_file: str = ""
    gateway_process_pattern: str = "openclaw gateway"
    retention_days: int = 3
    rollup_retention_days: int = 400
    cleanup_interval: float = 300.0
    cleanup_disk_threshold: float = 80.0
    cleanup_db_threshold_bytes: int = 1024**3
    wal_checkpoint_interval: float = 600.0
    wal_restart_threshold_bytes: int = 50_000_000
    push_endpoint: str = ""
    push_interval: float = 300.0
    push_max_payload_bytes: int = 5_000_000
    push_format: str = "json"
    push_token: str = ""
    push_headers: str = ""
    log_path: str = ""
    log_owner: str = ""
    shutdown_timeout: float = 15.0
    fast_path: bool = True
    writer: str = "thread"

    def masked(self) -> dict[str, object]:
        """The settings as a dict with secrets hidden, for the start-up log line."""
        shown: dict[str, object] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            shown[setting.field] = "***" if setting.secret and value else value
        if self.push_endpoint:  # credentials or a token in the URL stay out of the log
            shown["push_endpoint"] = endpoint_label(self.push_endpoint)
        return shown


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def refuse_an_open_bind(config: Config) -> None:
    """Off loopback, raise ``ConfigError`` unless the read API needs a token, and ingest does
    too or ``OCT_ALLOW_OPEN`` says an open ingest is meant."""
    if is_loopback(config.host):
        return
    if not config.read_token:
        raise ConfigError(
            "OCT_HOST", config.host, "off loopback the read API needs OCT_READ_TOKEN (it serves prompts and answers)"
        )
    if not config.ingest_token and not config.allow_open:
        raise ConfigError(
            "OCT_HOST",
            config.host,
            "off loopback ingest needs OCT_INGEST_TOKEN (or OCT_ALLOW_OPEN=true if anyone who can reach"
            " the port may send events)",
        )


def settings_markdown() -> str:
    """The settings table as Markdown, for docs/configuration.md (a test keeps them equal)."""
    lines = ["| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(see below)"
        if setting.secret:
            default = "empty"
        lines.append(f"| `{setting.env_var}` | `{setting.flag}` | {default} | {setting.help} |")
    return "\n".join(lines) + "\n"


class ConfigError(ValueError):
    """A setting had a value its parser refused. ``str()`` is the one line to print.

    ``hidden``: the value is not shown (a secret setting's, or an unknown
    one's: ``OCT_PUSH_TOKNE=…`` is most likely a token).
    """

    def __init__(self, env_var: str, value: str, accepted: str, *, hidden: bool = False) -> None:
        shown = f" (value hidden, {len(value)} character{'s' if len(value) != 1 else ''})" if hidden else f"={value!r}"
        super().__init__(f"invalid {env_var}{shown}: {accepted}")
        self.env_var = env_var


def load_config(env: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> Config:
    """Build a ``Config`` from ``OCT_*`` variables in ``env``, then ``overrides``.

    ``overrides`` are keyed like ``env`` (``OCT_PORT``) and come from command
    line flags; they add to the environment, they do not replace it. Raises
    ``ConfigError`` for the first bad value.
    """
    merged = {key: value for key, value in env.items() if key.startswith(ENV_PREFIX)}
    merged.update(overrides or {})
    values: dict[str, object] = {}
    for setting in SETTINGS:
        raw = merged.get(setting.env_var)
        if raw is None:
            if setting.default == "":
                continue  # the dataclass computes it (e.g. the per-user db path)
            raw = setting.default
        try:
            values[setting.field] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(setting.env_var, raw, str(exc), hidden=setting.secret) from None
    names = [setting.env_var for setting in SETTINGS]
    unknown = sorted(set(merged) - set(names))
    if unknown:
        # A typo such as OCT_PROT would otherwise be ignored without a word.
        close = difflib.get_close_matches(unknown[0], names, n=1)
        accepted = (
            f"unknown setting; did you mean {close[0]}?" if close else f"unknown setting; known: {', '.join(names)}"
        )
        raise ConfigError(unknown[0], merged[unknown[0]], accepted, hidden=True)
    return Config(**values)  # type: ignore[arg-type]


def load_config_or_say(overrides: Mapping[str, str] | None = None) -> Config | None:
    """For a command: ``load_config`` of this process's environment, or None once the one-line error is on stderr."""
    try:
        return load_config(os.environ, overrides)
    except ConfigError as exc:
        print(f"openclaw-trace: {exc}", file=sys.stderr)
        return None
