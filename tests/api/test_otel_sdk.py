"""The official OpenTelemetry Python SDK's OTLP/HTTP exporters, protobuf and JSON, against the daemon."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtobufSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from openclaw_trace.daemon import Daemon
from tests.conftest import rows

EXPORTERS = {"protobuf": ProtobufSpanExporter, "json": JsonSpanExporter}


def send_spans(endpoint: str, encoding: str, make_spans: Any) -> None:
    exporter = EXPORTERS[encoding](endpoint=endpoint, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-test", "host.name": "h1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make_spans(provider.get_tracer("tests"))
    provider.shutdown()


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_genai_spans_from_the_sdk_become_traces(daemon: Daemon, encoding: str) -> None:
    def make(tracer: Any) -> None:
        with tracer.start_as_current_span(
            "chat claude-haiku-4-5",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-haiku-4-5",
                "gen_ai.usage.input_tokens": 2000,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.conversation.id": "conv-9",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "chat gpt-4.1",
            attributes={"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4.1", "error.type": "429"},
        ) as failing:
            failing.set_status(Status(StatusCode.ERROR, "Too Many Requests"))

    send_spans(f"http://127.0.0.1:{daemon.port}/v1/traces", encoding, make)
    assert daemon.writer.flush(5)
    traces = rows(daemon.config.db_path, "SELECT * FROM llm_traces ORDER BY id")
    assert [(t["provider"], t["model"], t["status"]) for t in traces] == [
        ("anthropic", "claude-haiku-4-5", "ok"),
        ("openai", "gpt-4.1", "error"),
    ]
    ok = traces[0]
    assert (ok["prompt_tokens"], ok["completion_tokens"], ok["total_tokens"]) == (2000, 300, 2300)
    assert ok["cost_usd"] == pytest.approx((2000 * 1.0 + 300 * 5.0) / 1e6)
    assert ok["cost_source"] == "computed"
    assert ok["session_id"] == "conv-9"
    assert ok["latency_ms"] is not None and ok["latency_ms"] >= 0
    meta = json.loads(ok["metadata"])
    assert meta["service_name"] == "sdk-test"
    assert len(meta["trace_id"]) == 32
    assert traces[1]["cost_source"] == "unpriced"  # no tokens: no cost, and never $0
    assert traces[1]["cost_usd"] is None
    [error] = rows(daemon.config.db_path, "SELECT * FROM error_events")
    assert (error["error_type"], error["category"], error["message"]) == (
        "llm_error",
        "rate_limit",
        "Too Many Requests",
    )
