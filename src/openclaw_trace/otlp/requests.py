"""One OTLP export request → its events, and that result as bytes between processes.

``map_request`` is the whole work of an export request short of queueing:
decode the body in its encoding, map what it holds. The daemon runs it in
its OTLP decoder process (``otlp.decoder``), which hands the result back
as msgpack (``encode_mapped`` / ``decode_mapped``): typed msgspec structures
both ways, so the envelopes come back as they left.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from openclaw_trace.model import Envelope, EventLimits
from openclaw_trace.otlp.decode import Encoding, OtlpDecodeError, decode_request, decode_spans
from openclaw_trace.otlp.logs import map_logs
from openclaw_trace.otlp.metrics import map_metrics
from openclaw_trace.otlp.spans import map_spans
from openclaw_trace.otlp.values import MappingResult

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")


def map_request(
    signal: Signal, encoding: Encoding, body: bytes, received_at_ms: int, limits: EventLimits
) -> MappingResult:
    """The events of an export request; ``OtlpDecodeError`` when the body does not decode."""
    if signal == "traces":
        return map_spans(decode_spans(encoding, body), received_at_ms, limits)
    request = decode_request(signal, encoding, body)
    if isinstance(request, ExportLogsServiceRequest):
        return map_logs(request, received_at_ms, limits)
    assert isinstance(request, ExportMetricsServiceRequest)
    return map_metrics(request, received_at_ms)


class Mapped(msgspec.Struct, array_like=True, gc=False):
    """A ``MappingResult`` as it crosses between processes, or why the body did not decode."""

    envelopes: list[Envelope] = []
    rejected: int = 0
    ignored: int = 0
    errors: list[str] = []
    undecodable: str | None = None  # ``OtlpDecodeError``'s message
    failure: str | None = None  # a bug met on the way (the decoder logged it)

    def result(self) -> MappingResult:
        """The ``MappingResult``; raises ``OtlpDecodeError`` for an undecodable body, ``RuntimeError`` for a bug."""
        if self.undecodable is not None:
            raise OtlpDecodeError(self.undecodable)
        if self.failure is not None:
            raise RuntimeError(self.failure)
        return MappingResult(self.envelopes, self.rejected, self.ignored, self.errors)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Mapped)


def encode_mapped(signal: Signal, encoding: Encoding, body: bytes, received_at_ms: int, limits: EventLimits) -> bytes:
    """``map_request``'s result (or its decode error) as bytes for ``decode_mapped``."""
    try:
        result = map_request(signal, encoding, body, received_at_ms, limits)
    except OtlpDecodeError as exc:
        return _encoder.encode(Mapped(undecodable=str(exc)))
    return _encoder.encode(Mapped(result.envelopes, result.rejected, result.ignored, result.errors))


def decode_mapped(data: bytes) -> Mapped:
    return _decoder.decode(data)
