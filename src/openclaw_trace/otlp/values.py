"""OTLP attribute values → plain Python, and the small helpers the mappers share."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from openclaw_trace.model import ErrorIn, EventLimits, TraceIn, error_envelope, trace_envelope


def any_value(value: AnyValue) -> Any:
    """An ``AnyValue`` as str, bool, int, float, list, dict, hex string (bytes) or None."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    # A non-empty string, nearly every attribute, is read here at one field's cost: which
    # field is set (WhichOneof) and a call of any_value each were half the attributes' time.
    found: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        text = value.string_value  # "" when unset or another kind is set
        found[pair.key] = text if text else any_value(value)
    return found


def hex_id(raw: bytes) -> str | None:
    """A trace or span id as lower-case hex; None when absent or all zero."""
    return raw.hex() if raw and any(raw) else None


def first(attrs: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first of ``keys`` present and not None in ``attrs``."""
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            return value
    return None


def as_count(value: Any) -> int | None:
    """A token count: a non-negative whole number, or None."""
    if type(value) is int:  # nearly always (and not a bool, whose type is bool)
        return value if 0 <= value <= 2**53 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isdecimal():  # not isdigit: int() refuses "²"
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= 2**53 else None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if 0 <= number <= 1e15 else None


def as_text(value: Any) -> str | None:
    """Text as it is; lists and objects (e.g. GenAI messages) as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def nanos_to_ms(nanos: int) -> int:
    return nanos // 1_000_000


@dataclasses.dataclass(frozen=True)
class ResourceInfo:
    """What we keep of a resource: its attributes, with the two we index on."""

    attributes: dict[str, Any]

    @classmethod
    def of(cls, resource: Resource) -> ResourceInfo:
        return cls(attributes(resource.attributes))

    @property
    def service_name(self) -> str | None:
        value = self.attributes.get("service.name")
        return value if isinstance(value, str) else None

    @property
    def host_name(self) -> str | None:
        value = self.attributes.get("host.name")
        return value if isinstance(value, str) else None


@dataclasses.dataclass
class MappingResult:
    """What one export request became: envelopes, plus what was rejected or left out."""

    envelopes: list[Any] = dataclasses.field(default_factory=list)
    rejected: int = 0  # items refused as invalid (reported back as partial success)
    ignored: int = 0  # valid items we do not store (e.g. INFO logs, plain spans)
    errors: list[str] = dataclasses.field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < 5:
            self.errors.append(reason)

    def add_event(
        self,
        kind: type[TraceIn] | type[ErrorIn],
        fields: dict[str, Any],
        received_at_ms: int,
        limits: EventLimits,
    ) -> None:
        """Validate ``fields`` as our own native event would be, then add its envelope (or reject it)."""
        try:
            event = msgspec.convert(fields, kind)
        except msgspec.ValidationError as exc:
            self.reject(str(exc))
            return
        if isinstance(event, TraceIn):
            self.envelopes.append(trace_envelope(event, received_at_ms, limits))
        else:
            self.envelopes.append(error_envelope(event, received_at_ms, limits))
