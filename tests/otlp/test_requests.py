"""One export request → its events, in-process and as the bytes the decoder process sends back."""

from __future__ import annotations

import msgspec
import pytest

from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.decode import OtlpDecodeError
from openclaw_trace.otlp.requests import SIGNALS, Mapped, Signal, decode_mapped, encode_mapped, map_request
from tests.otlp.spans_builder import logs_request, otlp_json, span, traces_request

RECEIVED_MS = 1_800_000_000_000
LIMITS = EventLimits()


def recorded(name: str) -> bytes:
    with open(f"tests/fixtures/otlp/{name}", "rb") as body:
        return body.read()


def test_each_signal_is_decoded_and_mapped_by_its_own_mapper() -> None:
    usage = span("openclaw.model.usage", {"openclaw.model": "m", "openclaw.tokens.input": 3})
    traces = map_request("traces", "protobuf", traces_request(usage).SerializeToString(), RECEIVED_MS, LIMITS)
    assert [e.kind for e in traces.envelopes] == ["trace"]
    assert map_request("traces", "json", otlp_json(traces_request(usage)), RECEIVED_MS, LIMITS) == traces
    logs = logs_request((17, "lane error", {}), (9, "heartbeat", {}))
    mapped_logs = map_request("logs", "protobuf", logs.SerializeToString(), RECEIVED_MS, LIMITS)
    assert ([e.kind for e in mapped_logs.envelopes], mapped_logs.ignored) == (["error"], 1)
    metrics = map_request("metrics", "protobuf", recorded("0001_v1_metrics.bin"), RECEIVED_MS, LIMITS)
    assert metrics.envelopes and all(e.kind == "metric_point" for e in metrics.envelopes)
    assert SIGNALS == ("traces", "metrics", "logs")


@pytest.mark.parametrize("signal", SIGNALS)
def test_a_body_that_does_not_decode_is_a_decode_error(signal: Signal) -> None:
    with pytest.raises(OtlpDecodeError):
        map_request(signal, "protobuf", b"\xff\xff\xff", RECEIVED_MS, LIMITS)
    with pytest.raises(OtlpDecodeError):
        map_request(signal, "json", b"{not json", RECEIVED_MS, LIMITS)


@pytest.mark.parametrize(
    ("signal", "name"),
    [("traces", "0046_v1_traces.bin"), ("logs", "0002_v1_logs.bin"), ("metrics", "0001_v1_metrics.bin")],
)
def test_a_result_crosses_between_processes_as_it_left(signal: Signal, name: str) -> None:
    body = recorded(name)
    here = map_request(signal, "protobuf", body, RECEIVED_MS, LIMITS)
    there = decode_mapped(encode_mapped(signal, "protobuf", body, RECEIVED_MS, LIMITS)).result()
    assert there == here
    assert all(isinstance(e.values, tuple) for e in there.envelopes)


def test_a_decode_error_crosses_as_the_same_error() -> None:
    with pytest.raises(OtlpDecodeError) as here:
        map_request("traces", "protobuf", b"\xff\xff\xff", RECEIVED_MS, LIMITS)
    crossed = decode_mapped(encode_mapped("traces", "protobuf", b"\xff\xff\xff", RECEIVED_MS, LIMITS))
    with pytest.raises(OtlpDecodeError) as there:
        crossed.result()
    assert str(there.value) == str(here.value)


def test_a_failure_crosses_as_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="the OTLP decoder failed"):
        decode_mapped(msgspec.msgpack.encode(Mapped(failure="the OTLP decoder failed; see the daemon log"))).result()
