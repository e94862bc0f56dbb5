"""OTLP attribute values as plain Python, and the small helpers the mappers share. Pure."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from openclaw_trace.model import ErrorIn, EventLimits, TraceIn
from openclaw_trace.otlp.values import (
    MappingResult,
    ResourceInfo,
    any_value,
    as_count,
    as_number,
    as_text,
    attributes,
    first,
    hex_id,
    nanos_to_ms,
)
from tests.otlp.spans_builder import kvs


def test_every_kind_of_value_becomes_plain_python() -> None:
    nested = AnyValue()
    nested.array_value.values.extend([AnyValue(int_value=1), AnyValue(string_value="two")])
    pairs = AnyValue()
    pairs.kvlist_value.values.extend([KeyValue(key="inner", value=nested), KeyValue(key="flag", value=AnyValue())])
    values = [
        AnyValue(string_value="text"),
        AnyValue(int_value=-3),
        AnyValue(double_value=0.5),
        AnyValue(bool_value=False),
        AnyValue(bytes_value=b"\x01\xff"),
        pairs,
        AnyValue(),
    ]
    assert [any_value(v) for v in values] == [
        "text",
        -3,
        0.5,
        False,
        "01ff",
        {"inner": [1, "two"], "flag": None},
        None,
    ]


def test_attributes_are_a_dict_and_an_empty_string_stays_one() -> None:
    pairs = kvs({"service.name": "gw", "retries": 2, "ok": True, "note": ""})
    pairs.append(KeyValue(key="unset", value=AnyValue()))
    assert attributes(pairs) == {"service.name": "gw", "retries": 2, "ok": True, "note": "", "unset": None}
    assert attributes([]) == {}


def test_ids_are_hex_unless_absent_or_all_zero() -> None:
    assert hex_id(bytes.fromhex("0af7651916cd43dd")) == "0af7651916cd43dd"
    assert hex_id(b"") is None
    assert hex_id(bytes(16)) is None


def test_the_first_key_present_and_not_none_wins() -> None:
    attrs = {"a": None, "b": 0, "c": "x"}
    assert first(attrs, "missing", "a", "b", "c") == 0
    assert first(attrs, "missing", "a") is None


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (12, 12),
        (0, 0),
        (2**53, 2**53),
        (2**53 + 1, None),
        (-1, None),
        (True, None),  # a bool is no count
        (3.0, 3),
        (3.5, None),
        (float("nan"), None),
        ("42", 42),
        (" 42", None),
        ("-4", None),
        ("4.0", None),
        ("²", None),  # a digit to str.isdigit, not to int()
        ("١٢", 12),  # Arabic-Indic digits are decimal digits
        (None, None),
        ([3], None),
    ],
)
def test_a_token_count_is_a_whole_number_from_0_to_2_53(value: Any, count: int | None) -> None:
    assert as_count(value) == count


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_a_token_count_never_raises_whatever_a_producer_sends(value: Any) -> None:
    count = as_count(value)
    assert count is None or (type(count) is int and 0 <= count <= 2**53)


@pytest.mark.parametrize(
    ("value", "number"),
    [(0.25, 0.25), (3, 3.0), (1e15, 1e15), (1e16, None), (-0.01, None), (True, None), ("0.5", None), (None, None)],
)
def test_a_cost_is_a_number_from_0_to_a_quadrillion(value: Any, number: float | None) -> None:
    assert as_number(value) == number


def test_text_is_kept_and_structures_become_compact_json() -> None:
    assert as_text(None) is None
    assert as_text("héllo\n") == "héllo\n"
    assert as_text([{"role": "user", "content": "héllo"}]) == '[{"role":"user","content":"héllo"}]'
    assert json.loads(as_text({"n": 1, "b": b"x"}) or "") == {"n": 1, "b": "b'x'"}


def test_nanoseconds_become_whole_milliseconds() -> None:
    assert nanos_to_ms(1_795_000_000_123_999_999) == 1_795_000_000_123
    assert nanos_to_ms(0) == 0


def test_a_resource_names_its_service_and_host_only_as_text() -> None:
    named = ResourceInfo.of(Resource(attributes=kvs({"service.name": "gw", "host.name": "h1", "x": 1})))
    assert (named.service_name, named.host_name, named.attributes["x"]) == ("gw", "h1", 1)
    odd = ResourceInfo.of(Resource(attributes=kvs({"service.name": 7})))
    assert (odd.service_name, odd.host_name) == (None, None)


def test_a_result_counts_every_rejection_and_keeps_the_first_five_reasons() -> None:
    result = MappingResult()
    for n in range(7):
        result.reject(f"reason {n}")
    assert result.rejected == 7
    assert result.errors == [f"reason {n}" for n in range(5)]


def test_events_are_validated_as_native_ones_before_they_are_added() -> None:
    result = MappingResult()
    limits = EventLimits()
    result.add_event(TraceIn, {"provider": "p", "model": "m", "prompt_tokens": 3}, 1_000, limits)
    result.add_event(ErrorIn, {"error_type": "crash", "message": "boom"}, 1_000, limits)
    result.add_event(ErrorIn, {"error_type": "oops", "message": "boom"}, 1_000, limits)
    result.add_event(TraceIn, {"provider": "p"}, 1_000, limits)
    assert [e.kind for e in result.envelopes] == ["trace", "error"]
    assert result.rejected == 2
    assert "error_type" in result.errors[0]
    assert "model" in result.errors[1]
