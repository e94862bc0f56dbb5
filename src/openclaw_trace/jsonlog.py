"""Log lines on stderr: one JSON object each for machines, or one short line each for people.

Structured fields go in ``extra={"fields": {...}}``; in JSON they are merged
into the object. uvicorn's loggers are routed here too, so every line the
daemon prints has one shape. ``OCT_LOG_FORMAT=auto`` (the default) writes
text to a terminal and JSON anywhere else (a journal, a file, a collector).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import msgspec

_encoder = msgspec.json.Encoder()
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode("utf-8", errors="replace")


# Messages that read better to a person as one sentence of their fields.
_HEADLINES = {"openclaw-trace started": "openclaw-trace {version} listening on {listen}, database {db_path}"}


class TextFormatter(logging.Formatter):
    """``HH:MM:SS [level: ]message key=value …``: the level only when it is not info, and only
    the fields that fit on a line (a nested one, such as the start-up settings, is JSON's)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        fields = fields if isinstance(fields, dict) else {}
        message = record.getMessage()
        headline = _HEADLINES.get(message)
        if headline is not None:
            text = headline.format_map(_Blank(fields))
        else:
            shown = (f"{key}={value}" for key, value in fields.items() if not isinstance(value, dict | list))
            text = " ".join((message, *shown))
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        line = time.strftime("%H:%M:%S", time.localtime(record.created)) + f" {level}{text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Blank(dict[str, Any]):
    """A headline's fields; one that is missing shows as ``?`` rather than fail the line."""

    def __missing__(self, key: str) -> str:
        return "?"


def setup_logging(level: str, log_format: str = "json", stream: TextIO | None = None) -> None:
    """Send our and uvicorn's log records to ``stream`` (stderr): ``json``, ``text``, or ``auto``
    (text when the stream is a terminal)."""
    out = stream or sys.stderr
    as_text = log_format == "text" or (log_format == "auto" and out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter() if as_text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    # uvicorn's own start and stop lines ("Started server process", "Waiting for application
    # startup") say nothing ours do not: a person sees them only when something is wrong.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING if as_text else logging.NOTSET)
