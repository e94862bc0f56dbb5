"""Parsers for setting values: text in, typed value out, ``ValueError`` on bad input.

Each parser is a pure function whose error message says what *is* accepted,
so that ``config`` can print one line naming the variable, the value and the
accepted form. Nothing here knows about environment variables.
"""

from __future__ import annotations

import hashlib
import pwd
import re
import urllib.parse
from collections.abc import Callable

_DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")

# Decimal and binary units both, since users write "50MB" and "1MiB" alike.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration_s(text: str) -> float:
    """``"15s"``, ``"5m"``, ``"500ms"``, ``"2h"``, ``"1d"`` or bare seconds → seconds."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError("expected a duration such as 500ms, 15s, 5m, 2h or 1d")
    number, unit = match.groups()
    return float(number) * _DURATION_UNITS_S[unit or "s"]


def parse_size_bytes(text: str) -> int:
    """``"1MiB"``, ``"50MB"``, ``"16384"`` → bytes (decimal or binary units)."""
    match = _SIZE_RE.match(text)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError("expected a size such as 16384, 64KiB, 1MiB or 50MB")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.lower()])


def parse_percent(text: str) -> float:
    """``"80"`` or ``"80%"`` → 80.0, within 0–100."""
    stripped = text.strip().removesuffix("%").strip()
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError("expected a percentage from 0 to 100, such as 80 or 80%") from None
    if not 0.0 <= value <= 100.0:
        raise ValueError("expected a percentage from 0 to 100, such as 80 or 80%")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off; any case) → bool."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


def parse_text(text: str) -> str:
    return text.strip()


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A parser for whole numbers between ``low`` and ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return parse


def positive(parse: Callable[[str], float]) -> Callable[[str], float]:
    """Wrap a number parser so that zero and negatives are refused."""

    def parse_positive(text: str) -> float:
        value = parse(text)
        if value <= 0:
            raise ValueError("expected a value above zero")
        return value

    return parse_positive


def size_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = parse_size_bytes(text)
        if not low <= value <= high:
            raise ValueError(f"expected a size from {low} to {high} bytes (units such as KiB, MiB)")
        return value

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return lowered

    return parse


def parse_headers(text: str) -> dict[str, str]:
    """``"Name: value, Name2: value2"`` (commas or newlines) → a dict.

    Raises ValueError saying which pair is bad by its place, never by its text: a
    header's value is often a credential.
    """
    headers: dict[str, str] = {}
    pairs = [pair for pair in text.replace("\n", ",").split(",") if pair.strip()]
    for place, pair in enumerate(pairs, 1):
        name, sep, value = pair.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
            raise ValueError(f"header pair {place} of {len(pairs)} is not 'Name: value' (no spaces in the name)")
        headers[name] = value.strip()
    return headers


def user_uid(name_or_uid: str) -> int:
    """The uid of a user given by name or number; ``ValueError`` for a name this machine does not know."""
    text = name_or_uid.strip()
    if text.isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise ValueError("expected the name or uid of a user of this machine") from None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_label(endpoint: str) -> str:
    """What may be shown or stored of a URL that can carry a secret: ``scheme://host:port``, then
    ``/…#`` and a short hash of the rest (credentials, path, query) if there is any.

    Webhook URLs often hold their secret in the path (Slack's ``/services/T…/B…/<secret>``,
    Discord's ``/api/webhooks/<id>/<token>``); the hash still tells two endpoints apart.
    """
    parts = urllib.parse.urlsplit(endpoint.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # not a port number: part of what is hidden
        port = None
    label = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    userinfo = parts.netloc.rpartition("@")[0]
    rest = "\0".join((userinfo, parts.path.rstrip("/"), parts.query, parts.fragment))
    if rest.strip("\0"):
        label += "/…#" + hashlib.sha256(rest.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return label
