"""OTLP/JSON trace requests, decoded by our own structures: the same events as the protobuf path.

A property test builds random export requests with the official protobuf
classes (any span name the mapper knows or not, any attribute value type,
status, exception events), and maps each from protobuf and from OTLP/JSON
with ids in hex and in base64 (``map_both``): every result must be equal.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.decode import OtlpDecodeError, decode_request, decode_spans
from tests.otlp.spans_builder import map_both

FIXTURES = "tests/fixtures/otlp"
LIMITS = EventLimits(max_text_bytes=1_000)
KEYS = [
    "openclaw.provider", "openclaw.model", "openclaw.tokens.input", "openclaw.tokens.output", "openclaw.channel",
    "openclaw.sessionKey", "openclaw.outcome", "openclaw.cost.usd", "gen_ai.system", "gen_ai.provider.name",
    "gen_ai.request.model", "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.agent.id",
    "gen_ai.operation.name", "error.type", "http.response.status_code", "custom.key",
]  # fmt: skip
NAMES = ["openclaw.model.usage", "openclaw.model.call", "openclaw.run", "openclaw.webhook.error", "chat gpt", "x"]

scalars = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=30)),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=False)),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=12)),
    st.just(AnyValue()),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(lambda items: AnyValue(array_value=ArrayValue(values=items)), st.lists(inner, max_size=3)),
        st.builds(
            lambda pairs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs])),
            st.lists(st.tuples(st.text(max_size=5), inner), max_size=3),
        ),
    ),
    max_leaves=6,
)
pairs = st.lists(
    st.builds(lambda key, value: KeyValue(key=key, value=value), st.sampled_from(KEYS), values), max_size=8
)


@st.composite
def spans(draw: Any) -> Span:
    start = draw(st.integers(0, 2**63))
    span = Span(
        trace_id=draw(st.sampled_from([b"", bytes(16), bytes.fromhex("0af7651916cd43dd8448eb211c80319c")])),
        span_id=draw(st.sampled_from([b"", bytes(8), bytes.fromhex("b7ad6b7169203331")])),
        parent_span_id=draw(st.sampled_from([b"", bytes.fromhex("00f067aa0ba902b7")])),
        name=draw(st.sampled_from(NAMES)),
        start_time_unix_nano=start,
        end_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        attributes=draw(pairs),
        status=Status(code=draw(st.sampled_from([0, 1, 2])), message=draw(st.text(max_size=20))),
    )
    if draw(st.booleans()):
        exception = span.events.add(name="exception")
        exception.attributes.extend(draw(pairs))
    return span


requests = st.builds(
    lambda resources: ExportTraceServiceRequest(resource_spans=resources),
    st.lists(
        st.builds(
            lambda attrs, scope, found: ResourceSpans(
                resource={"attributes": attrs}, scope_spans=[ScopeSpans(scope={"name": scope}, spans=found)]
            ),
            pairs,
            st.text(max_size=5),
            st.lists(spans(), max_size=4),
        ),
        max_size=3,
    ),
)


@settings(max_examples=300, deadline=None)
@given(request=requests)
def test_json_and_protobuf_map_to_the_same_events(request: ExportTraceServiceRequest) -> None:
    map_both(request, 1_800_000_000_000, LIMITS)


def test_the_recorded_gateway_request_decodes_the_same_from_its_json() -> None:
    with open(f"{FIXTURES}/0046_v1_traces.bin", "rb") as body:
        from_protobuf = decode_spans("protobuf", body.read())
    with open(f"{FIXTURES}/0046_v1_traces.json") as recorded:
        decoded = json.load(recorded)["decoded"]  # base64 ids, enum names, int64 as strings
    assert decode_spans("json", json.dumps(decoded).encode()) == from_protobuf
    assert from_protobuf[0].scopes[0][1][0].status_error


def test_proto_field_names_take_protobufs_own_json_mapping() -> None:
    body = {"resource_spans": [{"scope_spans": [{"spans": [{"name": "x", "start_time_unix_nano": "5"}]}]}]}
    [resource] = decode_spans("json", json.dumps(body).encode())
    assert resource.scopes[0][1][0].start_ns == 5
    request = decode_request("traces", "json", json.dumps(body).encode())
    assert request.ByteSize() > 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "invalid OTLP JSON"),
        (b"[]", "Expected `object`"),
        (b'{"resourceSpans": "nope"}', "$.resourceSpans"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', "startTimeUnixNano"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "traceId"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "AAAA"}]}]}]}', "spanId"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"status": {"code": "STATUS_CODE_BAD"}}]}]}]}', "status"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "99999999999999999999999"}]}]}]}',
         "endTimeUnixNano"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": "1.5"}}]}}]}',
         "intValue"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"doubleValue": "x"}}]}}]}',
         "doubleValue"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"bytesValue": "%%"}}]}}]}',
         "bytesValue"),
    ],
)  # fmt: skip
def test_bad_otlp_json_is_one_clear_error_naming_the_field(body: bytes, named: str) -> None:
    with pytest.raises(OtlpDecodeError) as raised:
        decode_spans("json", body)
    assert named in str(raised.value)


def test_attributes_nested_deeper_than_python_recurses_are_refused_not_a_crash() -> None:
    deep = '{"stringValue": "x"}'
    for _ in range(5_000):
        deep = '{"arrayValue": {"values": [' + deep + "]}}"
    body = '{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": ' + deep + "}]}}]}"
    with pytest.raises(OtlpDecodeError):
        decode_spans("json", body.encode())
