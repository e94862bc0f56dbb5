"""Decoding OTLP bodies: recorded protobuf, their JSON form, OTLP JSON with hex ids."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from openclaw_trace.otlp.decode import OtlpDecodeError, decode_request, encode_response, looks_like_otlp_json

FIXTURES = "tests/fixtures/otlp"


@pytest.mark.parametrize(
    "body",
    [
        b'{"provider": "resource_spans"}',  # found by the fuzz test: was answered 200 {}
        b'{"provider":"p","metadata":{"resourceSpans":[]}}',
        b'[{"resourceSpans":[]}]',
        b'{"extra": 1, "resourceSpans": [',  # not JSON, and the root key not first
        b"plain text",
    ],
)
def test_only_a_top_level_root_key_makes_a_body_otlp_json(body: bytes) -> None:
    assert not looks_like_otlp_json("traces", body)
    assert looks_like_otlp_json("traces", b'{"resource_spans":[]}')
    assert looks_like_otlp_json("metrics", b'{"extra": 1, "resourceMetrics":[]}')  # found by a parse
    # The root key first, as exporters write it, is told without a parse: a body cut short
    # is then an OTLP export that does not decode (400 from the OTLP decoder, naming why).
    assert looks_like_otlp_json("traces", b' {\n "resourceSpans" : [')


@pytest.mark.parametrize(
    ("stem", "signal"), [("0046_v1_traces", "traces"), ("0002_v1_logs", "logs"), ("0001_v1_metrics", "metrics")]
)
def test_recorded_bodies_decode_the_same_from_protobuf_and_json(stem: str, signal: str) -> None:
    with open(f"{FIXTURES}/{stem}.bin", "rb") as body:
        from_protobuf = decode_request(signal, "protobuf", body.read())  # type: ignore[arg-type]
    with open(f"{FIXTURES}/{stem}.json") as recorded:
        decoded = json.load(recorded)["decoded"]
    from_json = decode_request(signal, "json", json.dumps(decoded).encode())  # type: ignore[arg-type]
    assert from_protobuf == from_json
    assert from_protobuf.ByteSize() > 0


def test_otlp_json_with_hex_ids_as_the_spec_writes_them() -> None:
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": 1544712661000000000,
                                "status": {"code": 2, "message": "boom"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    raw = json.dumps(body).encode()
    assert looks_like_otlp_json("traces", raw)
    request = decode_request("traces", "json", raw)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.status.message == "boom"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("protobuf", b"\xff\xff\xff\xff not protobuf"),
        ("protobuf", b"\x0a\x05\x0a\x03"),  # truncated nested message
        ("json", b"{not json"),
        ("json", b"[]"),
        ("json", b'{"resourceSpans": "nope"}'),
        ("json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}'),
        ("json", b"[" * 100_000 + b"]" * 100_000),
    ],
)
def test_undecodable_bodies(encoding: str, body: bytes) -> None:
    with pytest.raises(OtlpDecodeError):
        decode_request("traces", encoding, body)  # type: ignore[arg-type]


def test_responses_in_the_request_encoding() -> None:
    assert encode_response("traces", "protobuf", 0, "") == b""
    partial = ExportTraceServiceResponse.FromString(encode_response("traces", "protobuf", 3, "bad spans"))
    assert partial.partial_success.rejected_spans == 3
    assert partial.partial_success.error_message == "bad spans"
    assert json.loads(encode_response("logs", "json", 2, "x")) == {
        "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "x"}
    }
    assert json.loads(encode_response("metrics", "json", 0, "")) == {}
