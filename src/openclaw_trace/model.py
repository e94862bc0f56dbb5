"""Event types, their validation, and the envelope that travels to the writer.

Pure: no I/O, no clock (callers pass ``received_at_ms``). Request bodies are
decoded straight into ``msgspec`` structs, which reject wrong types, NaN and
Infinity, lone UTF-16 surrogates and out-of-range numbers with a message
naming the field; ``decode_*`` turn those and the few cases msgspec leaves
to us (recursion depth) into ``BadEvent``.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Annotated, Any, Literal

import msgspec

from openclaw_trace.pricing import DEFAULT_PRICES, CostSource, PriceTable

# Short identifying strings are refused when absurdly long rather than cut:
# a 1 MB "provider" is a client bug worth a 400, not a row.
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
RequiredName = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0, le=1e15)]
TimestampMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class TraceIn(msgspec.Struct, kw_only=True, gc=False):
    """One LLM call, as posted to ``/v1/traces``. Unknown fields are ignored.

    Not tracked by the GC (one fewer object per request for it to count and
    scan): what it holds was decoded from JSON or converted from OTLP
    attributes (``msgspec.convert``), fresh objects that cannot form a cycle.
    """

    provider: RequiredName
    model: RequiredName
    input_text: str | None = None
    output_text: str | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
    cache_read_tokens: Count | None = None
    cache_write_tokens: Count | None = None
    cost_usd: NonNegative | None = None
    latency_ms: NonNegative | None = None
    status: Literal["ok", "error"] | None = None
    error_type: ShortText | None = None
    session_id: ShortText | None = None
    agent_id: ShortText | None = None
    channel: ShortText | None = None
    timestamp_ms: TimestampMs | None = None
    metadata: dict[str, Any] | None = None


class ErrorIn(msgspec.Struct, kw_only=True, gc=False):
    """One error, as posted to ``/v1/errors``. Unknown fields are ignored (GC: as ``TraceIn``)."""

    error_type: Literal["llm_error", "crash", "system_error"]
    message: Annotated[str, msgspec.Meta(min_length=1)]
    stack_trace: str | None = None
    severity: Literal["debug", "info", "warning", "error", "critical"] = "error"
    category: ShortText | None = None
    provider: ShortText | None = None
    model: ShortText | None = None
    session_id: ShortText | None = None
    agent_id: ShortText | None = None
    channel: ShortText | None = None
    timestamp_ms: TimestampMs | None = None
    metadata: dict[str, Any] | None = None


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """What the queue carries: the row's kind, its time and its column values.

    ``values`` are in the column order of ``storage.writes`` for that kind,
    without ``trace_id`` (the writer assigns it) and ``created_at``.

    A msgspec Struct because one is built per event on the hot path: its
    constructor is C, where a NamedTuple's is Python (a third of the cost).
    Not tracked by the GC: what it holds was built for it and cannot refer back to it.
    """

    kind: str
    created_at_ms: int
    values: tuple[Any, ...]

    def as_tuple(self) -> tuple[str, int, tuple[Any, ...]]:
        """The plain tuple ``from_tuple`` takes back (what crosses to a writer process)."""
        return (self.kind, self.created_at_ms, self.values)

    @classmethod
    def from_tuple(cls, row: tuple[str, int, tuple[Any, ...]]) -> Envelope:
        return cls(*row)


@dataclasses.dataclass(frozen=True)
class EventLimits:
    """What normalising an event needs besides the event: text budget and prices."""

    max_text_bytes: int = 16384
    prices: PriceTable = dataclasses.field(default_factory=lambda: PriceTable(DEFAULT_PRICES))


class BadEvent(ValueError):
    """The body could not be turned into events; ``str()`` is the 400 message."""


_trace_decoder = msgspec.json.Decoder(TraceIn | list[TraceIn])
_error_decoder = msgspec.json.Decoder(ErrorIn | list[ErrorIn])
_encoder = msgspec.json.Encoder()


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes without splitting a character."""
    # Fast path: every code point is at most 4 bytes, so short text needs no encode.
    if len(text) * 4 <= max_bytes:
        return text
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    # errors="ignore" drops only the partial character at the cut.
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def _cut(text: str | None, max_bytes: int) -> str | None:
    return None if text is None else truncate_utf8(text, max_bytes)


def _metadata_json(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    return _encoder.encode(metadata).decode("utf-8")


def accepted_values(struct: type[msgspec.Struct]) -> dict[str, tuple[str, ...]]:
    """Each field of ``struct`` that takes one of a fixed set of strings, with that set in declared order."""
    found: dict[str, tuple[str, ...]] = {}
    for name, hint in typing.get_type_hints(struct).items():
        for option in (hint, *typing.get_args(hint)):  # Literal[...], or Literal[...] | None
            if typing.get_origin(option) is Literal:
                found[name] = tuple(str(value) for value in typing.get_args(option))
    return found


# The field a msgspec message is about: "... - at `$[1].error_type`", or "missing required field `error_type`".
_FIELD_IN_MESSAGE = re.compile(r"(?:at `\$[^`]*\.(\w+)`$|missing required field `(\w+)`)")


def _validation_message(exc: msgspec.ValidationError, accepted: dict[str, tuple[str, ...]]) -> str:
    """msgspec's message (it names the field's path), with the accepted values when the field has a fixed set."""
    message = str(exc)
    match = _FIELD_IN_MESSAGE.search(message)
    values = accepted.get(match.group(1) or match.group(2)) if match else None
    if values is None:
        return message
    return f"{message} (accepted: {', '.join(values)})"


def _bad_event(exc: Exception, body: bytes, accepted: dict[str, tuple[str, ...]]) -> BadEvent:
    """What a body that failed to decode gets as its 400 message."""
    if isinstance(exc, msgspec.ValidationError):
        return BadEvent(_validation_message(exc, accepted))
    if isinstance(exc, UnicodeDecodeError):
        return BadEvent(f"invalid JSON: not UTF-8 at byte {exc.start}")
    if isinstance(exc, RecursionError):
        return BadEvent("invalid JSON: nested too deeply")
    # Told apart only here: an empty body fails to decode, and a 1 KB strip() per request is not free.
    if not body.strip():
        return BadEvent("empty body: expected a JSON object or an array of objects")
    return BadEvent(f"invalid JSON: {exc}")


# Named in a 400 about one of these fields, so that a client need not guess ("error_type": "oops").
_TRACE_ACCEPTED = accepted_values(TraceIn)
_ERROR_ACCEPTED = accepted_values(ErrorIn)

# What decoding a body can raise (ValidationError is a DecodeError); each becomes a BadEvent.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def trace_envelope(event: TraceIn, received_at_ms: int, limits: EventLimits) -> Envelope:
    # Once per event on the hot path, where each Python call costs about as much
    # as a field's validation: the common cases of the helpers are spelled out.
    cost_usd = event.cost_usd
    if cost_usd is not None:
        cost_source: CostSource = "reported"
    else:
        cost_usd, cost_source = limits.prices.cost(
            event.model,
            None,
            event.prompt_tokens,
            event.completion_tokens,
            event.cache_read_tokens,
            event.cache_write_tokens,
        )
    max_text_bytes = limits.max_text_bytes
    input_text = event.input_text
    if input_text is not None and len(input_text) * 4 > max_text_bytes:
        input_text = truncate_utf8(input_text, max_text_bytes)
    output_text = event.output_text
    if output_text is not None and len(output_text) * 4 > max_text_bytes:
        output_text = truncate_utf8(output_text, max_text_bytes)
    metadata = event.metadata
    return Envelope(
        "trace",
        event.timestamp_ms if event.timestamp_ms is not None else received_at_ms,
        (
            event.provider,
            event.model,
            input_text,
            output_text,
            event.prompt_tokens,
            event.completion_tokens,
            event.total_tokens,
            event.cache_read_tokens,
            event.cache_write_tokens,
            cost_usd,
            cost_source,
            event.latency_ms,
            event.status or ("error" if event.error_type else "ok"),
            event.error_type,
            event.session_id,
            event.agent_id,
            event.channel,
            None if metadata is None else _encoder.encode(metadata).decode("utf-8"),
        ),
    )


def error_envelope(event: ErrorIn, received_at_ms: int, limits: EventLimits) -> Envelope:
    max_text_bytes = limits.max_text_bytes
    return Envelope(
        "error",
        event.timestamp_ms if event.timestamp_ms is not None else received_at_ms,
        (
            event.error_type,
            event.category,
            event.severity,
            truncate_utf8(event.message, max_text_bytes),
            _cut(event.stack_trace, max_text_bytes),
            event.provider,
            event.model,
            event.session_id,
            event.agent_id,
            event.channel,
            _metadata_json(event.metadata),
        ),
    )


def decode_traces(body: bytes, received_at_ms: int, limits: EventLimits) -> list[Envelope]:
    """Validate a ``/v1/traces`` body (object or array); raises ``BadEvent``."""
    try:  # here, not in a shared helper: one Python call fewer per request
        decoded: TraceIn | list[TraceIn] = _trace_decoder.decode(body)
    except _DECODE_ERRORS as exc:
        raise _bad_event(exc, body, _TRACE_ACCEPTED) from None
    if isinstance(decoded, TraceIn):  # one object: the common case, no comprehension
        return [trace_envelope(decoded, received_at_ms, limits)]
    return [trace_envelope(event, received_at_ms, limits) for event in decoded]


def decode_errors(body: bytes, received_at_ms: int, limits: EventLimits) -> list[Envelope]:
    """Validate a ``/v1/errors`` body (object or array); raises ``BadEvent``."""
    try:
        decoded: ErrorIn | list[ErrorIn] = _error_decoder.decode(body)
    except _DECODE_ERRORS as exc:
        raise _bad_event(exc, body, _ERROR_ACCEPTED) from None
    if isinstance(decoded, ErrorIn):
        return [error_envelope(decoded, received_at_ms, limits)]
    return [error_envelope(event, received_at_ms, limits) for event in decoded]
