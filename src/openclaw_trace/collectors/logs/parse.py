"""One gateway log line (text) → a ``LogLine``. Pure: no I/O, no clock.

OpenClaw writes one JSON object per line (tslog's shape): positional
arguments under ``"0"``, ``"1"``, ``"2"`` …, ``_meta`` with ``logLevelName``
and ``name``, ``time``, ``message`` (the arguments joined), and often
``traceId``, ``spanId``, ``session_id``, ``agent_id``. The logger name —
``"0"`` when the line comes from a subsystem logger — is itself JSON text
such as ``{"subsystem":"gateway/ws"}`` or ``{"module":"cron",…}``. Lines
forwarded from the console have the message itself in ``"0"`` and the name
``openclaw``. Anything that is not such an object is kept as plain text,
with a level guessed from a leading level word.

``parse_line`` never raises: deep nesting, huge numbers, lone surrogates and
non-object JSON all fall back to plain text or are cleaned.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# tslog's numeric levels (0 silly … 6 fatal), for lines without a level name.
_LEVEL_BY_ID = {0: "TRACE", 1: "TRACE", 2: "DEBUG", 3: "INFO", 4: "WARN", 5: "ERROR", 6: "FATAL"}
_LEVEL_ALIASES = {"SILLY": "TRACE", "WARNING": "WARN", "ERR": "ERROR", "CRITICAL": "FATAL", "PANIC": "FATAL"}
_PLAIN_LEVEL = re.compile(r"^\W{0,3}(?:\S+\s+){0,2}?\[?(TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL)\]?\b")
_SHORT_MAX = 256  # ids and names longer than this are cut (model.ShortText refuses them)


@dataclasses.dataclass(frozen=True, slots=True)
class LogLine:
    """What one line says. ``structured`` is False for plain text (``message`` is the text)."""

    raw: str
    structured: bool
    level: str | None = None  # one of LEVELS, or None when unknown
    subsystem: str | None = None
    message: str = ""
    data: dict[str, Any] | None = None  # the structured argument ("1" or "2"), if any
    time_ms: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None


def _short(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:_SHORT_MAX]


def _level(name: Any, level_id: Any = None) -> str | None:
    if isinstance(name, str):
        upper = name.strip().upper()
        upper = _LEVEL_ALIASES.get(upper, upper)
        if upper in LEVELS:
            return upper
    if isinstance(level_id, int) and not isinstance(level_id, bool):
        return _LEVEL_BY_ID.get(level_id)
    return None


def _logger_fields(value: Any) -> dict[str, Any] | None:
    """The object behind a logger name such as ``{"subsystem":"gateway/ws"}``, else None."""
    if isinstance(value, dict):
        found = value
    elif isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        try:
            found = json.loads(value)
        except (ValueError, RecursionError):
            return None
    else:
        return None
    if isinstance(found, dict) and any(isinstance(found.get(k), str) for k in ("subsystem", "module")):
        return found
    return None


def _subsystem_of(fields: dict[str, Any]) -> str | None:
    return _short(fields.get("subsystem")) or _short(fields.get("module"))


def _time_ms(obj: dict[str, Any], meta: dict[str, Any]) -> int | None:
    for value in (obj.get("time"), meta.get("date")):
        if isinstance(value, str) and value:
            try:
                return int(datetime.fromisoformat(value).timestamp() * 1000)
            except (ValueError, OverflowError, OSError):
                continue
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**53:
            return int(value)
    return None


def _clean_surrogates(text: str) -> str:
    """JSON allows ``"\\ud800"``; SQLite and UTF-8 do not. Replace lone surrogates."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _first_id(obj: dict[str, Any], data: dict[str, Any] | None, *names: str) -> str | None:
    for source in (obj, data or {}):
        for name in names:
            found = _short(source.get(name))
            if found:
                return found
    return None


def parse_plain(text: str) -> LogLine:
    """A line that is not an OpenClaw JSON object: the text, with a guessed level."""
    match = _PLAIN_LEVEL.match(text)
    return LogLine(raw=text, structured=False, level=_level(match.group(1)) if match else None, message=text.strip())


def parse_line(text: str) -> LogLine:
    """Parse one line (without its newline). Never raises."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return parse_plain(text)
    try:
        obj = json.loads(stripped)
    except (ValueError, RecursionError):  # bad JSON, 5,000-digit integers, deep nesting
        return parse_plain(text)
    if not isinstance(obj, dict):
        return parse_plain(text)
    if "\\ud" in stripped.lower():
        # Rare: round-trip once to replace lone surrogates everywhere, data included.
        try:
            obj = json.loads(_clean_surrogates(json.dumps(obj, ensure_ascii=False)))
            text = _clean_surrogates(text)
        except (ValueError, RecursionError):
            return parse_plain(_clean_surrogates(text))
    meta = obj.get("_meta") if isinstance(obj.get("_meta"), dict) else {}
    if not meta and not any(key in obj for key in ("0", "message", "msg", "level")):
        return parse_plain(text)  # some other JSON: keep it as text

    # The logger name: "0" when it is a subsystem logger, else _meta.name.
    args = [obj[key] for key in sorted((k for k in obj if k.isdigit()), key=int)]
    subsystem: str | None = None
    logger = _logger_fields(args[0]) if args else None
    if logger is not None:
        subsystem = _subsystem_of(logger)
        args = args[1:]
    else:
        named = _logger_fields(meta.get("name"))
        subsystem = _subsystem_of(named) if named else _short(meta.get("name"))

    data: dict[str, Any] | None = None
    texts: list[str] = []
    for arg in args:
        if isinstance(arg, dict):
            if data is None and set(arg) != {"message"}:
                data = arg
            elif isinstance(arg.get("message"), str):
                texts.append(arg["message"])
        elif isinstance(arg, str):
            texts.append(arg)
        elif arg is not None:
            texts.append(json.dumps(arg, ensure_ascii=False)[:_SHORT_MAX])
    # The text arguments, not "message": that one also carries the structured argument as JSON.
    message = " ".join(texts)
    if not message:
        for key in ("message", "msg"):
            if isinstance(obj.get(key), str):
                message = obj[key]
                break

    level = _level(meta.get("logLevelName"), meta.get("logLevelId")) or _level(obj.get("level"))
    return LogLine(
        raw=text,
        structured=True,
        level=level,
        subsystem=subsystem,
        message=message.strip(),
        data=data,
        time_ms=_time_ms(obj, meta),
        trace_id=_first_id(obj, None, "traceId", "trace_id"),
        span_id=_first_id(obj, None, "spanId", "span_id"),
        session_id=_first_id(obj, data, "session_id", "sessionId"),
        agent_id=_first_id(obj, data, "agent_id", "agentId"),
        run_id=_first_id(obj, data, "runId", "run_id"),
    )
