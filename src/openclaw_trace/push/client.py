"""HTTP send → a result value, and the retry policy as pure functions.

``PushClient.send`` never raises for what a network or a receiver can do
(refused, reset, timeout, any status): it returns a ``SendResult`` whose
``outcome`` says what the scheduler should do with the batch. The policy
functions (``classify``, ``backoff_delay_s``, ``parse_retry_after_s``) take
the clock and the random source as arguments so that tests can table them.

Thread-safety: one ``PushClient`` is used by one thread at a time (the push
thread); ``abort()`` may be called from any other thread to cut an in-flight
request short (the stop path uses it when the deadline is near).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import enum
import gzip
import http.client
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping

from openclaw_trace import __version__

USER_AGENT = f"openclaw-trace/{__version__}"
# Statuses worth another attempt: the receiver is busy or broken for now, not refusing the batch.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Past this the receiver's answer body is not read; it only feeds a log line.
MAX_ERROR_BODY_BYTES = 1024


class Outcome(enum.Enum):
    ACKED = "acked"  # 2xx: the batch is the receiver's now
    RETRYABLE = "retryable"  # try again later (5xx, 408, 429, connection trouble)
    PERMANENT = "permanent"  # the receiver refuses this batch (4xx other than 408/429)


@dataclasses.dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status: int | None  # HTTP status, None when no answer came
    retry_after_s: float | None = None
    error: str | None = None  # short, never holds headers or the token
    sent_bytes: int = 0


def classify(status: int) -> Outcome:
    """The outcome of an HTTP status for a push request."""
    if 200 <= status < 300:
        return Outcome.ACKED
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


# The longest wait a receiver's Retry-After can impose (an hour).
MAX_RETRY_AFTER_S = 3600


def parse_retry_after_s(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if absent/bad.

    ``now_s`` is the wall clock (Unix seconds) an HTTP-date is measured against;
    a date in the past means "now" (0). Negative or unparsable values are ignored.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # isdigit alone takes '²' and other non-ASCII digits
        # Clamped: 400 digits would overflow float(), and a receiver must not park pushing for years.
        return float(min(int(text[:12]), MAX_RETRY_AFTER_S)) if len(text) <= 12 else float(MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now_s), float(MAX_RETRY_AFTER_S))


def backoff_delay_s(attempt: int, base_s: float, cap_s: float, rand: Callable[[], float]) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)).

    ``attempt`` counts failed attempts so far (0 after the first failure);
    ``rand`` returns a float in [0, 1) (``random.random`` in production).
    """
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 32)))
    return float(ceiling * rand())


def retry_wait_s(result: SendResult, attempt: int, base_s: float, cap_s: float, rand: Callable[[], float]) -> float:
    """How long to wait before the next attempt: at least Retry-After when the receiver gave one."""
    jitter = backoff_delay_s(attempt, base_s, cap_s, rand)
    if result.retry_after_s is not None:
        return max(result.retry_after_s, jitter)
    return jitter


class PushClient:
    """Sends request bodies to one receiver over plain ``http.client``.

    ``gzip`` starts on; a ``415`` to a gzipped body turns it off for the rest
    of this client's life and the same body is re-sent uncompressed at once.
    Each ``send`` opens its own connection: pushes are minutes apart, and a
    fresh connection never inherits a half-dead socket from the last cycle.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        token: str = "",
        headers: Mapping[str, str] | None = None,
        gzip_enabled: bool = True,
        request_timeout_s: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"push endpoint must be an http(s) URL, got scheme {parts.scheme!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base_path = parts.path.rstrip("/")
        self._query = parts.query
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.gzip_enabled = gzip_enabled
        self.request_timeout_s = request_timeout_s
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._current: http.client.HTTPConnection | None = None
        self._aborted = False

    def url_for(self, path: str) -> str:
        """The request target for ``path`` (``""``: the endpoint itself), without credentials."""
        target = self._base_path + path or "/"
        return target + (f"?{self._query}" if self._query else "")

    def send(self, path: str, body: bytes, content_type: str, timeout_s: float | None = None) -> SendResult:
        """POST ``body`` to ``<endpoint><path>``; blocks up to about ``timeout_s`` per network step."""
        timeout = self.request_timeout_s if timeout_s is None else max(0.05, min(timeout_s, self.request_timeout_s))
        if self.gzip_enabled:
            result = self._post(path, gzip.compress(body, compresslevel=5), content_type, "gzip", timeout)
            if result.status != 415:
                return result
            self.gzip_enabled = False  # the receiver does not take gzip: remember, and say it once
        return self._post(path, body, content_type, None, timeout)

    def abort(self, *, for_good: bool = True) -> None:
        """Cut the in-flight request (if any) short; it returns a RETRYABLE result. Any thread.

        ``for_good``: later sends fail at once too (the stop deadline is up);
        otherwise only the request on the wire now is cut.
        """
        with self._lock:
            self._aborted = self._aborted or for_good
            conn = self._current
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to cut
                conn.sock.shutdown(socket.SHUT_RDWR)

    def _post(self, path: str, body: bytes, content_type: str, encoding: str | None, timeout: float) -> SendResult:
        headers = {**self._headers, "Content-Type": content_type, "Content-Length": str(len(body))}
        if encoding:
            headers["Content-Encoding"] = encoding
        conn_class = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = conn_class(self._host, self._port, timeout=timeout)
        with self._lock:
            if self._aborted:
                return SendResult(Outcome.RETRYABLE, None, error="aborted by stop")
            self._current = conn
        try:
            conn.request("POST", self.url_for(path), body=body, headers=headers)
            response = conn.getresponse()
            detail = response.read(MAX_ERROR_BODY_BYTES)
            status = response.status
            retry_after = parse_retry_after_s(response.getheader("Retry-After"), self._wall_clock())
        except (OSError, http.client.HTTPException) as exc:
            return SendResult(Outcome.RETRYABLE, None, error=_describe(exc), sent_bytes=len(body))
        finally:
            with self._lock:
                self._current = None
            conn.close()
        outcome = classify(status)
        error = None
        if outcome is not Outcome.ACKED:
            snippet = detail[:200].decode("utf-8", "replace").strip()
            # The receiver's own words help the operator; printable text only, and short.
            snippet = "".join(c for c in snippet if c.isprintable())[:160]
            error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        return SendResult(outcome, status, retry_after_s=retry_after, error=error, sent_bytes=len(body))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"[:200]


def rand_source(seed: int | None = None) -> Callable[[], float]:
    """``random.random`` of a private generator (seeded in tests)."""
    return random.Random(seed).random
