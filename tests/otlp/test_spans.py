"""Span mapping, table-tested: model calls, failures, run errors, the rest ignored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from openclaw_trace.model import Envelope, EventLimits
from openclaw_trace.otlp import spans
from openclaw_trace.otlp.decode import decode_request
from openclaw_trace.otlp.spans import classify_llm_failure
from openclaw_trace.storage.writes import COLUMNS
from tests.otlp.spans_builder import START_NS, map_both, span, traces_request

LIMITS = EventLimits()
RECEIVED_MS = 1_800_000_000_000


def fields(envelope: Envelope) -> dict[str, Any]:
    row = dict(zip(COLUMNS[envelope.kind], envelope.values, strict=True))
    row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else None
    row["created_at_ms"] = envelope.created_at_ms
    return row


def test_openclaw_usage_span_becomes_a_priced_trace() -> None:
    usage = span(
        "openclaw.model.usage",
        {
            "openclaw.provider": "anthropic",
            "openclaw.model": "claude-sonnet-4-5-20250929",
            "openclaw.channel": "telegram",
            "openclaw.sessionKey": "agent:main:main",
            "openclaw.tokens.input": 1000,
            "openclaw.tokens.output": 200,
            "openclaw.tokens.cache_read": 5000,
            "openclaw.tokens.cache_write": 100,
            "openclaw.tokens.total": 6300,
        },
        duration_ms=2539,
    )
    result = map_both(traces_request(usage), RECEIVED_MS, LIMITS)
    [trace] = [fields(e) for e in result.envelopes]
    assert trace["provider"] == "anthropic"
    assert trace["model"] == "claude-sonnet-4-5-20250929"
    assert (trace["prompt_tokens"], trace["completion_tokens"], trace["total_tokens"]) == (1000, 200, 6300)
    assert (trace["cache_read_tokens"], trace["cache_write_tokens"]) == (5000, 100)
    # 1000*3 + 200*15 + 5000*0.30 + 100*3.75 per million
    assert trace["cost_usd"] == pytest.approx(0.007875)
    assert trace["cost_source"] == "computed"
    assert trace["latency_ms"] == 2539.0
    assert trace["status"] == "ok"
    assert trace["channel"] == "telegram"
    assert trace["session_id"] == "agent:main:main"
    assert trace["created_at_ms"] == START_NS // 1_000_000
    meta = trace["metadata"]
    assert meta["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert meta["span_id"] == "b7ad6b7169203331"
    assert meta["service_name"] == "openclaw-gateway"
    assert meta["host_name"] == "agent-host"
    assert meta["span_name"] == "openclaw.model.usage"


def test_genai_semconv_span_from_any_producer() -> None:
    chat = span(
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
            "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"hello"}]}]',
        },
        duration_ms=812,
    )
    [trace] = [fields(e) for e in map_both(traces_request(chat), RECEIVED_MS, LIMITS).envelopes]
    assert (trace["provider"], trace["model"]) == ("openai", "gpt-4o-mini-2024-07-18")
    assert (trace["prompt_tokens"], trace["completion_tokens"], trace["total_tokens"]) == (120, 40, 160)
    assert trace["cost_usd"] == pytest.approx((120 * 0.15 + 40 * 0.60) / 1e6)
    assert trace["input_text"].startswith('[{"role":"user"')
    assert "hello" in trace["output_text"]
    assert "gen_ai.input.messages" not in trace["metadata"]["attributes"]  # not stored twice


def test_an_attribute_a_column_holds_as_it_came_is_not_stored_again() -> None:
    chat = span(
        "chat gpt-4o",
        {
            "gen_ai.system": "openai",  # → provider, as it came
            "gen_ai.request.model": "gpt-4o",  # not picked: response.model wins
            "gen_ai.response.model": "gpt-4o-2024-08-06",  # → model
            "gen_ai.usage.input_tokens": 120,  # → prompt_tokens
            "gen_ai.usage.output_tokens": "40",  # → completion_tokens 40, but it came as text
            "gen_ai.conversation.id": "s" * 300,  # → session_id, cut to 256
            "error.type": "timeout",  # a call that did not fail: no error_type column
            "server.address": "api.openai.com",  # no column
        },
    )
    [trace] = [fields(e) for e in map_both(traces_request(chat), RECEIVED_MS, LIMITS).envelopes]
    assert (trace["provider"], trace["model"], trace["prompt_tokens"], trace["completion_tokens"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        120,
        40,
    )
    assert trace["metadata"]["attributes"] == {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.output_tokens": "40",
        "gen_ai.conversation.id": "s" * 300,
        "error.type": "timeout",
        "server.address": "api.openai.com",
    }


def test_an_empty_attribute_gives_way_to_the_next_that_may_carry_the_field() -> None:
    chat = span("chat", {"openclaw.model": None, "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5})
    [trace] = [fields(e) for e in map_both(traces_request(chat), RECEIVED_MS, LIMITS).envelopes]
    assert trace["model"] == "gpt-4o"
    assert trace["metadata"]["attributes"] == {"openclaw.model": None}


def test_spans_under_the_same_keys_are_each_mapped_by_their_own_values() -> None:
    # The mapper works out once per set of keys which attributes feed which column.
    keys = ("openclaw.provider", "openclaw.model", "error.type", "openclaw.tokens.input")
    ok = span("openclaw.model.usage", dict(zip(keys, ("openai", "gpt-4o", "none", 7), strict=True)))
    failed = span("openclaw.model.usage", dict(zip(keys, ("anthropic", "claude", "timeout", 9), strict=True)), "boom")
    envelopes = map_both(traces_request(ok, failed, ok), RECEIVED_MS, LIMITS).envelopes
    rows = [fields(e) for e in envelopes if e.kind == "trace"]
    picked = [(r["provider"], r["model"], r["error_type"], r["prompt_tokens"]) for r in rows]
    ok_row, failed_row = ("openai", "gpt-4o", None, 7), ("anthropic", "claude", "timeout", 9)
    assert picked == [ok_row, failed_row, ok_row]


def test_a_flood_of_key_sets_is_mapped_right_and_remembered_within_bounds() -> None:
    flood = [
        span("openclaw.model.usage", {"openclaw.model": f"m{n}", f"custom.{n}": n, "openclaw.tokens.input": n})
        for n in range(spans.PLANS_KEPT + 50)
    ]
    rows = [fields(e) for e in map_both(traces_request(*flood), RECEIVED_MS, LIMITS).envelopes]
    assert [(r["model"], r["prompt_tokens"], r["metadata"]["attributes"]) for r in rows] == [
        (f"m{n}", n, {f"custom.{n}": n}) for n in range(len(flood))
    ]
    assert 0 < spans.plans_remembered() <= spans.PLANS_KEPT


def test_reported_cost_wins_and_unknown_models_stay_unpriced() -> None:
    reported = span(
        "openclaw.model.usage", {"openclaw.model": "gpt-4o", "openclaw.cost.usd": 0.5, "openclaw.tokens.input": 10}
    )
    unknown = span("openclaw.model.usage", {"openclaw.model": "my-local-llama", "openclaw.tokens.input": 10})
    rows = [fields(e) for e in map_both(traces_request(reported, unknown), RECEIVED_MS, LIMITS).envelopes]
    assert (rows[0]["cost_usd"], rows[0]["cost_source"]) == (0.5, "reported")
    assert (rows[1]["cost_usd"], rows[1]["cost_source"]) == (None, "unpriced")


def test_failed_model_call_gives_an_error_trace_and_an_llm_error() -> None:
    failed = span(
        "openclaw.model.call",
        {
            "openclaw.provider": "fakellm",
            "openclaw.model": "fake-model",
            "openclaw.errorCategory": "server_error",
            "openclaw.failureKind": "http_500",
        },
        error="Upstream returned HTTP 500",
    )
    ok_call = span("openclaw.model.call", {"openclaw.provider": "fakellm", "openclaw.model": "fake-model"})
    result = map_both(traces_request(failed, ok_call), RECEIVED_MS, LIMITS)
    assert result.ignored == 1  # a successful call is recorded by its usage span instead
    trace, error = (fields(e) for e in result.envelopes)
    assert (trace["status"], trace["error_type"]) == ("error", "server_error")
    assert error["error_type"] == "llm_error"
    assert error["category"] == "server_error"
    assert error["message"] == "Upstream returned HTTP 500"
    assert (error["provider"], error["model"]) == ("fakellm", "fake-model")


@pytest.mark.parametrize(
    ("name", "attrs", "status", "expected"),
    [
        ("openclaw.run", {"openclaw.outcome": "error"}, "run failed", ("crash", "run_failed", "error")),
        ("openclaw.harness.run", {}, "harness failed", ("crash", "run_failed", "error")),
        ("openclaw.webhook.error", {"error.type": "timeout"}, None, ("system_error", "webhook", "error")),
        ("openclaw.session.stuck", {}, None, ("system_error", "session_stuck", "warning")),
        ("openclaw.liveness.warning", {}, "event_loop_delay", ("system_error", "openclaw.liveness.warning", "warning")),
        ("db.query", {"error.type": "DiskFull"}, None, ("system_error", "DiskFull", "error")),
    ],
)
def test_error_spans(name: str, attrs: dict[str, Any], status: str | None, expected: tuple[str, str, str]) -> None:
    result = map_both(traces_request(span(name, attrs, error=status)), RECEIVED_MS, LIMITS)
    [error] = [fields(e) for e in result.envelopes]
    assert (error["error_type"], error["category"], error["severity"]) == expected
    assert error["message"]


def test_plain_spans_are_counted_not_stored() -> None:
    result = map_both(traces_request(span("openclaw.tool.execution"), span("openclaw.run")), RECEIVED_MS, LIMITS)
    assert result.envelopes == []
    assert result.ignored == 2


def test_recorded_gateway_request_maps_its_liveness_warning() -> None:
    with open("tests/fixtures/otlp/0046_v1_traces.bin", "rb") as body:
        request = decode_request("traces", "protobuf", body.read())
    assert isinstance(request, ExportTraceServiceRequest)
    result = map_both(request, RECEIVED_MS, LIMITS)
    [error] = [fields(e) for e in result.envelopes]
    assert error["error_type"] == "system_error"
    assert error["message"] == "event_loop_delay"
    assert error["metadata"]["attributes"]["openclaw.liveness.reason"] == "event_loop_delay"
    assert error["metadata"]["service_name"] == "openclaw-gateway"


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ({"error.type": "429"}, "rate_limit"),
        ({"openclaw.errorCategory": "RateLimitError"}, "rate_limit"),
        ({"error.type": "TimeoutError"}, "timeout"),
        ({"http.response.status_code": 401}, "auth"),
        ({"openclaw.failureKind": "malformed_json"}, "malformed_response"),
        ({"error.type": "500"}, "server_error"),
        ({"error.type": "Weird"}, "api_failure"),
    ],
)
def test_llm_failure_categories(said: dict[str, Any], category: str) -> None:
    assert classify_llm_failure(said, "") == category


def test_a_failed_span_with_a_long_name_is_stored_with_its_name_cut_not_refused() -> None:
    result = map_both(traces_request(span("openclaw." + "x" * 300, error="boom")), RECEIVED_MS, LIMITS)
    assert result.rejected == 0
    [row] = [fields(e) for e in result.envelopes if e.kind == "error"]
    assert row["category"] == ("openclaw." + "x" * 300)[:256]  # the name stands in for a missing error.type
