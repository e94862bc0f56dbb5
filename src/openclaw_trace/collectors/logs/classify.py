"""A parsed gateway log line → an event envelope, or None. Pure: the clock is passed in.

Two outcomes are stored, everything else is only counted by the tailer:

- **errors** (``error_events`` via ``model.ErrorIn``): ERROR/FATAL lines and
  known failure messages at any level from INFO up. Provider/model request
  failures, HTTP 429/5xx and exhausted retries are ``llm_error`` with
  provider, model and category; uncaught exceptions and crashes are
  ``crash``; disk, network and permission failures are ``system_error``.
  Severity follows the log level; the raw line (bounded) and the ids go into
  metadata.
- **gateway events** (``gateway_events``): things worth knowing that are not
  errors — ``retry``, ``fallback_decision``, ``failover_decision``,
  ``provider_http_error`` (one failed HTTP response of a provider; the
  failed attempt itself is the error row), ``config_reload``,
  ``channel_connected`` / ``channel_disconnected``, ``gateway_start``,
  ``gateway_stopping``, ``gateway_stopped``.

``gateway/ws`` lines are the gateway's broadcasts to its clients; they repeat
errors already logged elsewhere, so only their ERROR/FATAL lines count.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from openclaw_trace.collectors.logs.parse import LogLine
from openclaw_trace.model import Envelope, ErrorIn, EventLimits, error_envelope, truncate_utf8

RAW_MAX_BYTES = 4096  # the raw line kept in an error's metadata
ATTRIBUTES_MAX_BYTES = 8192
SOURCE = "gateway_log"

_SEVERITY = {
    "TRACE": "debug", "DEBUG": "debug", "INFO": "info", "WARN": "warning", "ERROR": "error", "FATAL": "critical",
}  # fmt: skip
_encoder = msgspec.json.Encoder()

# -- patterns over the gateway's own wording (2026.9.x) -----------------------
# Searched only in the text just before " request failed" (see _provider_model_failed): a leading
# [\w.-]+ tried at every position of a long word would be quadratic.
_PROVIDER_MODEL = re.compile(r"(?P<provider>[\w.-]{1,100})/(?P<model>[\w.:@+-]{1,150})$")
PATTERN_TEXT_MAX_CHARS = 8192  # failure wording is looked for in the first 8 KiB of a line's text
_HTTP_STATUS = re.compile(r"\bHTTP (?P<status>[1-5]\d\d)\b|\bstatus[=: ](?P<status2>[1-5]\d\d)\b")
_RETRY = re.compile(
    r"retry (?P<attempt>\d+)/(?P<max>\d+) for (?P<provider>[\w.-]+)/(?P<model>\S+?)"
    r"(?: reason=(?P<reason>\w+))?(?::? delayMs=(?P<delay>\d+))?$"
)
_RETRIES_EXHAUSTED = re.compile(
    r"retry window elapsed for (?P<provider>[\w.-]+)/(?P<model>\S+) after (?P<attempt>\d+)/(?P<max>\d+)"
    r"|retries exhausted|exhausted (?:all )?retries|giving up after \d+ (?:retries|attempts)",
    re.IGNORECASE,
)
_MODEL_FETCH = re.compile(
    r"\[model-fetch\] response provider=(?P<provider>\S+) .*?model=(?P<model>\S+) status=(?P<status>\d{3})"
    r"(?: elapsedMs=(?P<elapsed>\d+))?"
)
_LANE = re.compile(r"\blane=(\S+)")
_FAILURE_WORDS = re.compile(
    r"fail|error|exception|crash|denied|refused|unavailable|unreachable|timed out|timeout|rate.?limit"
    r"|out of memory|ENOSPC|EACCES|EPERM|EAI_AGAIN|ENOTFOUND|ECONN|ETIMEDOUT",
    re.IGNORECASE,
)
_CRASH = re.compile(
    r"(?P<oom>heap out of memory|out of memory|\bOOM\b)|(?P<rejection>unhandled ?(?:promise )?rejection)"
    r"|(?P<uncaught>uncaught ?exception|uncaught \w*error)"
    r"|(?P<crash>\bcrash(?:ed)?\b|segmentation fault|SIGSEGV|SIGABRT)",
    re.IGNORECASE,
)
_DISK = re.compile(r"ENOSPC|no space left|disk (?:is )?full|EDQUOT|quota exceeded|EROFS|read-only file system", re.I)
_PERMISSION = re.compile(r"EACCES|EPERM|permission denied|operation not permitted|access denied", re.IGNORECASE)
_NETWORK = re.compile(
    r"ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EPIPE"
    r"|getaddrinfo|socket hang up|fetch failed|network error|connection (?:refused|reset)",
    re.IGNORECASE,
)
_RATE_LIMIT = re.compile(r"rate.?limit|too many requests|\bHTTP 429\b|status[=: ]429", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed out|timeout", re.IGNORECASE)
_CLI_HINT = re.compile(r"^\[openclaw\] (?:Debug|Try|Help):")
_CLI_FAILED = re.compile(r"^\[openclaw\] The CLI command failed")
_CONFIG_RELOAD = re.compile(
    r"\bconfig(?:uration)?\b.{0,40}\breload|\breload\w*\b.{0,40}\bconfig|\bhot.?reload", re.IGNORECASE
)
_GATEWAY_START = re.compile(r"^gateway (?:ready|started)\b", re.IGNORECASE)
_GATEWAY_STOPPING = re.compile(r"received (?P<signal>SIG\w+); shutting down|^gateway stopping\b", re.IGNORECASE)
_GATEWAY_STOPPED = re.compile(r"^shutdown completed(?:\s+\w+)? in (?P<ms>\d+)ms|^gateway stopped\b", re.IGNORECASE)
_CHANNELS = {
    "telegram", "whatsapp", "discord", "slack", "signal", "imessage", "bluebubbles", "msteams", "matrix",
    "googlechat", "mattermost", "line", "irc", "nostr", "zalo", "feishu", "webchat", "twitch", "voice-call",
}  # fmt: skip
_CHANNEL_DOWN = re.compile(
    r"\bdisconnected\b|connection (?:lost|closed)|\blogged out\b|\bstopped\b|\boffline\b|\bclosed\b", re.IGNORECASE
)
_CHANNEL_UP = re.compile(
    r"\bconnected\b|\blogged in\b|\blistening\b|\bstarted\b|\bready\b|\bonline\b|\breconnected\b", re.IGNORECASE
)


def severity_of(level: str | None) -> str:
    return _SEVERITY.get(level or "", "error")


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _int(text: str | None) -> int | None:
    return int(text) if text else None


def _bounded_json(value: dict[str, Any]) -> str:
    text = _encoder.encode(value).decode("utf-8")
    if len(text) > ATTRIBUTES_MAX_BYTES:
        return _encoder.encode({"truncated": True, "preview": truncate_utf8(text, ATTRIBUTES_MAX_BYTES // 2)}).decode()
    return text


def _ids(line: LogLine) -> dict[str, Any]:
    found = {
        "trace_id": line.trace_id,
        "span_id": line.span_id,
        "run_id": line.run_id,
        "session_id": line.session_id,
        "agent_id": line.agent_id,
    }
    return {key: value for key, value in found.items() if value}


def _text(line: LogLine) -> str:
    """The message plus the error text of a structured argument, where failures are spelled out."""
    data = line.data or {}
    extra = [data[key] for key in ("error", "errorMessage", "errorName", "reason") if isinstance(data.get(key), str)]
    return " ".join([line.message, *extra])[:PATTERN_TEXT_MAX_CHARS]


def _provider_model_failed(text: str) -> re.Match[str] | None:
    end = text.find(" request failed")
    return _PROVIDER_MODEL.search(text, max(0, end - 256), end) if end > 0 else None


# -- errors --------------------------------------------------------------------


def _error(
    line: LogLine,
    received_at_ms: int,
    limits: EventLimits,
    error_type: str,
    category: str,
    message: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Envelope:
    metadata: dict[str, Any] = {
        "source": SOURCE,
        "subsystem": line.subsystem,
        "level": line.level,
        **_ids(line),
        **(extra or {}),
        "raw": truncate_utf8(line.raw, RAW_MAX_BYTES),
    }
    fields = {
        "error_type": error_type,
        "category": category[:256],
        "severity": severity_of(line.level),
        "message": (message or line.message or line.raw or "(empty log line)").strip() or "(empty log line)",
        "provider": provider[:256] if provider else None,
        "model": model[:256] if model else None,
        "session_id": line.session_id,
        "agent_id": line.agent_id,
        "timestamp_ms": line.time_ms if line.time_ms is not None and line.time_ms >= 0 else received_at_ms,
        "metadata": metadata,
    }
    try:
        event = msgspec.convert(fields, ErrorIn)
    except msgspec.ValidationError:  # defensive: keep the failure, drop what did not validate
        event = ErrorIn(error_type="system_error", message="unparseable gateway log error", metadata=metadata)
    return error_envelope(event, received_at_ms, limits)


def _llm_category(text: str, reason: str | None = None) -> tuple[str, int | None]:
    match = _HTTP_STATUS.search(text)
    status = int(match.group("status") or match.group("status2")) if match else None
    if status == 429 or _RATE_LIMIT.search(text):
        return "rate_limit", status
    if reason:
        return reason, status
    if status is not None and status >= 500:
        return "server_error", status
    if _TIMEOUT.search(text):
        return "timeout", status
    return "request_failed", status


def _structured_error(line: LogLine, now_ms: int, limits: EventLimits) -> Envelope | None:
    data = line.data or {}
    if data.get("event") == "embedded_run_agent_end" and data.get("isError") is True:
        error = _str(data, "error") or line.message
        category, status = _llm_category(error[:PATTERN_TEXT_MAX_CHARS], _str(data, "failoverReason"))
        extra = {
            "http_status": status,
            "failure_kind": _str(data, "providerRuntimeFailureKind"),
            "raw_error": _str(data, "rawErrorPreview"),
        }
        return _error(
            line, now_ms, limits, "llm_error", category, error, _str(data, "provider"), _str(data, "model"),
            {k: v for k, v in extra.items() if v is not None},
        )  # fmt: skip
    return None


def _failure(line: LogLine, now_ms: int, limits: EventLimits) -> Envelope | None:
    """Known failure wording, at INFO and above; ERROR/FATAL lines always give an error."""
    text = _text(line)
    serious = line.level in ("ERROR", "FATAL")
    if not serious and (line.level in ("TRACE", "DEBUG") or line.subsystem == "gateway/ws"):
        return None
    exhausted = _RETRIES_EXHAUSTED.search(text)
    if not serious and not exhausted and not _FAILURE_WORDS.search(text):
        return None
    if not serious and _RETRY.search(text):
        return None  # a retry announced at WARN is a gateway event, whatever its reason says (rate_limit …)
    extra: dict[str, Any] = {}
    lane = _LANE.search(text)
    if lane:
        extra["lane"] = lane.group(1).rstrip(",")
    if line.data and isinstance(line.data.get("errorName"), str):
        extra["error_name"] = line.data["errorName"]
    if exhausted:
        if exhausted.group("attempt"):
            extra.update(retries=int(exhausted.group("attempt")), max_retries=int(exhausted.group("max")))
        provider, model = exhausted.group("provider"), exhausted.group("model")
        return _error(line, now_ms, limits, "llm_error", "retries_exhausted", None, provider, model, extra)
    failed = _provider_model_failed(text)
    if failed or _RATE_LIMIT.search(text):
        category, status = _llm_category(text)
        if status is not None:
            extra["http_status"] = status
        provider, model = (failed.group("provider"), failed.group("model")) if failed else (None, None)
        return _error(line, now_ms, limits, "llm_error", category, None, provider, model, extra)
    crash = _CRASH.search(text)
    if crash:
        category = next(name for name in ("oom", "rejection", "uncaught", "crash") if crash.group(name))
        names = {"oom": "out_of_memory", "rejection": "unhandled_rejection", "uncaught": "uncaught_exception"}
        return _error(line, now_ms, limits, "crash", names.get(category, "crash"), None, None, None, extra)
    for pattern, category in ((_DISK, "disk_full"), (_PERMISSION, "permission_denied"), (_NETWORK, "network")):
        if pattern.search(text):
            return _error(line, now_ms, limits, "system_error", category, _with_error(line), None, None, extra)
    if not serious:
        return None
    if _CLI_HINT.match(line.message):
        return None  # "Try: openclaw doctor" and friends follow the real failure line
    if _CLI_FAILED.match(line.message):
        return _error(line, now_ms, limits, "system_error", "cli_failure", None, None, None, extra)
    if line.message.startswith("Plugin") or (line.subsystem or "").startswith("plugins"):
        return _error(line, now_ms, limits, "system_error", "plugin_error", None, None, None, extra)
    if line.level == "FATAL":
        return _error(line, now_ms, limits, "crash", "fatal", None, None, None, extra)
    return _error(line, now_ms, limits, "system_error", "gateway_error", _with_error(line), None, None, extra)


def _with_error(line: LogLine) -> str:
    data = line.data or {}
    error = data.get("error")
    if isinstance(error, str) and error and error not in line.message:
        return f"{line.message}: {error}" if line.message else error
    return line.message


# -- gateway events ----------------------------------------------------------------


def _event(line: LogLine, received_at_ms: int, limits: EventLimits, kind: str, attributes: dict[str, Any]) -> Envelope:
    metadata = {"source": SOURCE, **_ids(line)}
    attrs = {key: value for key, value in attributes.items() if value is not None}
    return Envelope(
        "gateway_event",
        line.time_ms if line.time_ms is not None and line.time_ms >= 0 else received_at_ms,
        (
            line.subsystem,
            kind,
            line.level.lower() if line.level else None,
            truncate_utf8(line.message, limits.max_text_bytes),
            _bounded_json(attrs),
            _bounded_json(metadata),
        ),
    )


def _decision(line: LogLine) -> tuple[str, dict[str, Any]] | None:
    data = line.data or {}
    name = data.get("event")
    if name == "model_fallback_decision" or (isinstance(name, str) and "fallback" in name):
        return "fallback_decision", data
    if name == "embedded_run_failover_decision" and data.get("decision") != "continue_normal":
        return "failover_decision", data
    return None


def _gateway_event(line: LogLine) -> tuple[str, dict[str, Any]] | None:
    decision = _decision(line)
    if decision is not None:
        return decision
    if line.level in ("TRACE", "DEBUG"):
        return None
    message = line.message[:PATTERN_TEXT_MAX_CHARS]
    subsystem = line.subsystem or ""
    retry = _RETRY.search(message)
    if retry:
        return "retry", {
            "attempt": _int(retry.group("attempt")),
            "max_attempts": _int(retry.group("max")),
            "provider": retry.group("provider"),
            "model": retry.group("model"),
            "reason": retry.group("reason"),
            "delay_ms": _int(retry.group("delay")),
        }
    fetch = _MODEL_FETCH.search(message)
    if fetch and int(fetch.group("status")) >= 400:
        return "provider_http_error", {
            "provider": fetch.group("provider"),
            "model": fetch.group("model"),
            "http_status": int(fetch.group("status")),
            "elapsed_ms": _int(fetch.group("elapsed")),
        }
    if subsystem == "gateway/ws":
        return None
    if _GATEWAY_START.search(message):
        return "gateway_start", {}
    stopping = _GATEWAY_STOPPING.search(message)
    if stopping:
        return "gateway_stopping", {"signal": stopping.group("signal")}
    stopped = _GATEWAY_STOPPED.search(message)
    if stopped:
        return "gateway_stopped", {"duration_ms": _int(stopped.group("ms"))}
    if _CONFIG_RELOAD.search(message) or "reload" in subsystem:
        return "config_reload", dict(line.data or {})
    channel = subsystem.split("/")[-1] if subsystem else ""
    if subsystem.startswith("channel") or channel in _CHANNELS or subsystem.split("/")[0] in _CHANNELS:
        if _CHANNEL_DOWN.search(message):
            return "channel_disconnected", {"channel": channel}
        if _CHANNEL_UP.search(message):
            return "channel_connected", {"channel": channel}
    return None


def classify(line: LogLine, received_at_ms: int, limits: EventLimits) -> Envelope | None:
    """The event ``line`` stands for (kind ``error`` or ``gateway_event``), or None to only count it.

    ``received_at_ms`` is used when the line carries no time of its own.
    """
    for rule in (_structured_error, _failure):
        found = rule(line, received_at_ms, limits)
        if found is not None:
            return found
    event = _gateway_event(line)
    if event is None:
        return None
    kind, attributes = event
    return _event(line, received_at_ms, limits, kind, attributes)
