"""classify on the real gateway log and on the failure wordings it must recognise."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.collectors.logs.classify import RAW_MAX_BYTES, classify
from openclaw_trace.collectors.logs.parse import parse_line
from openclaw_trace.model import Envelope, EventLimits
from openclaw_trace.storage.writes import COLUMNS
from tests.collectors.logs.test_parse import REAL

NOW_MS = 1_800_000_000_000
LIMITS = EventLimits()


def event_of(text: str) -> Envelope | None:
    return classify(parse_line(text), NOW_MS, LIMITS)


def row(envelope: Envelope) -> dict[str, Any]:
    values = dict(zip(COLUMNS[envelope.kind], envelope.values, strict=True))
    for key in ("metadata", "attributes"):
        if values.get(key):
            values[key] = json.loads(values[key])
    return values


def real_row(number: int) -> tuple[str, dict[str, Any]]:
    envelope = event_of(REAL[number - 1])
    assert envelope is not None, f"line {number} gave no event"
    return envelope.kind, row(envelope)


def json_line(level: str, subsystem: str | None, *args: Any) -> str:
    obj: dict[str, Any] = {"_meta": {"logLevelName": level, "name": "openclaw"}, "time": "2026-11-22T05:00:00.000Z"}
    positional = ([json.dumps({"subsystem": subsystem})] if subsystem else []) + list(args)
    obj.update({str(i): arg for i, arg in enumerate(positional)})
    return json.dumps(obj)


def test_the_real_log_yields_these_events() -> None:
    kinds: Counter[tuple[str, str]] = Counter()
    for text in REAL:
        envelope = event_of(text)
        if envelope is not None:
            values = row(envelope)
            kinds[(envelope.kind, values["category"] if envelope.kind == "error" else values["kind"])] += 1
    assert kinds == {
        ("error", "server_error"): 11,  # 8 failed attempts, 2 lane errors, the CLI's reason
        ("error", "retries_exhausted"): 1,
        ("error", "network"): 2,  # model catalog refresh: getaddrinfo EAI_AGAIN
        ("error", "plugin_error"): 2,
        ("error", "cli_failure"): 1,
        ("gateway_event", "provider_http_error"): 8,
        ("gateway_event", "retry"): 7,
        ("gateway_event", "failover_decision"): 1,
        ("gateway_event", "fallback_decision"): 1,
        ("gateway_event", "gateway_start"): 2,
        ("gateway_event", "gateway_stopping"): 1,
        ("gateway_event", "gateway_stopped"): 1,
    }


def test_provider_http_500_failure_is_an_llm_error() -> None:
    kind, values = real_row(556)
    assert kind == "error"
    assert values["error_type"] == "llm_error"
    assert (values["provider"], values["model"], values["category"]) == ("fakellm", "fake-model", "server_error")
    assert values["severity"] == "warning"  # logged at WARN
    assert values["message"].startswith("⚠️ fakellm/fake-model request failed (provider internal error, HTTP 500)")
    metadata = values["metadata"]
    assert metadata["http_status"] == 500
    assert metadata["raw_error"] == "500 fake upstream failure"
    assert metadata["trace_id"] == "f3cf5e022b3e3f23339cbe7c26247c33"
    assert metadata["run_id"] == "52b431bb-8743-40be-98f4-cbb35ebd8a32"
    assert json.loads(metadata["raw"])["_meta"]["logLevelName"] == "WARN"


def test_lane_errors_keep_the_lane_and_the_level() -> None:
    for number, lane in ((670, "main"), (671, "session:agent:main:main")):
        _, values = real_row(number)
        assert values["error_type"] == "llm_error" and values["severity"] == "error"
        assert values["metadata"]["lane"] == lane
        assert values["metadata"]["error_name"] == "FailoverError"


def test_retries_and_their_exhaustion() -> None:
    kind, values = real_row(561)
    assert kind == "gateway_event" and values["kind"] == "retry" and values["level"] == "warn"
    assert values["subsystem"] == "agent/embedded"
    assert values["attributes"] == {
        "attempt": 5,
        "max_attempts": 8,
        "provider": "fakellm",
        "model": "fake-model",
        "reason": "server_error",
        "delay_ms": 23519,
    }
    # The same line with a rate-limit reason is still a retry, not an error (it was a rate_limit error).
    line = json_line("WARN", "agent/embedded", "retry 1/8 for openai/gpt-4o reason=rate_limit: delayMs=900")
    envelope = event_of(line)
    assert envelope is not None and envelope.kind == "gateway_event"
    assert row(envelope)["attributes"]["reason"] == "rate_limit"
    kind, values = real_row(668)
    assert kind == "error" and values["category"] == "retries_exhausted"
    assert values["metadata"]["retries"] == 7 and values["provider"] == "fakellm"


def test_fallback_and_failover_decisions() -> None:
    kind, values = real_row(673)
    assert (kind, values["kind"], values["subsystem"]) == (
        "gateway_event",
        "fallback_decision",
        "model-fallback/decision",
    )
    assert values["attributes"]["fallbackStepFinalOutcome"] == "chain_exhausted"
    assert values["metadata"]["session_id"] == "6fa1036b-ee1f-4cba-a226-2b01831fd2dc"
    _, values = real_row(669)
    assert values["kind"] == "failover_decision" and values["attributes"]["decision"] == "surface_error"
    assert event_of(REAL[127]) is None  # line 128: decision continue_normal after a good turn


def test_cli_failure_and_plugin_errors() -> None:
    _, values = real_row(683)
    assert (values["error_type"], values["category"]) == ("system_error", "cli_failure")
    _, values = real_row(684)
    assert (values["error_type"], values["provider"], values["model"]) == ("llm_error", "fakellm", "fake-model")
    for number in (685, 686, 687):  # "Debug: …", "Try: …", "Help: …" only follow the failure
        assert event_of(REAL[number - 1]) is None
    for number in (181, 194):
        _, values = real_row(number)
        assert (values["error_type"], values["category"], values["severity"]) == (
            "system_error",
            "plugin_error",
            "error",
        )


def test_gateway_start_and_stop() -> None:
    assert real_row(64)[1]["kind"] == "gateway_start"
    assert real_row(161)[1]["attributes"] == {"signal": "SIGTERM"}
    assert real_row(167)[1]["attributes"] == {"duration_ms": 324}


def test_client_broadcasts_do_not_repeat_errors() -> None:
    assert event_of(REAL[556]) is None  # line 557: gateway/ws "phase=finishing … error=… HTTP 500"
    assert event_of(REAL[680]) is None  # line 681: gateway/ws "res ✗ agent errorCode=UNAVAILABLE"


@pytest.mark.parametrize(
    ("level", "subsystem", "text", "expected"),
    [
        ("ERROR", "gateway", "Uncaught exception: TypeError: x is undefined", ("crash", "uncaught_exception", "error")),
        ("FATAL", None, "FATAL ERROR: JavaScript heap out of memory", ("crash", "out_of_memory", "critical")),
        ("ERROR", "gateway", "Unhandled promise rejection: boom", ("crash", "unhandled_rejection", "error")),
        ("FATAL", "gateway", "something unknown", ("crash", "fatal", "critical")),
        ("ERROR", "memory", "write failed: ENOSPC: no space left", ("system_error", "disk_full", "error")),
        ("WARN", "state", "open failed: EACCES: permission denied", ("system_error", "permission_denied", "warning")),
        ("WARN", "telegram", "fetch failed: ECONNRESET", ("system_error", "network", "warning")),
        ("WARN", "agent", "anthropic/claude-x request failed (HTTP 429)", ("llm_error", "rate_limit", "warning")),
        ("ERROR", "gateway", "something went wrong", ("system_error", "gateway_error", "error")),
        ("PLAIN", None, "2026-11-22 ERROR disk write failed: ENOSPC", ("system_error", "disk_full", "error")),
    ],
)
def test_failure_wordings(level: str, subsystem: str | None, text: str, expected: tuple[str, str, str]) -> None:
    envelope = event_of(text if level == "PLAIN" else json_line(level, subsystem, text))
    assert envelope is not None and envelope.kind == "error"
    values = row(envelope)
    assert (values["error_type"], values["category"], values["severity"]) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (json_line("INFO", "gateway/reload", "config change detected; reloading"), "config_reload"),
        (json_line("INFO", "gateway", "config hot reload applied (2 changes)"), "config_reload"),
        (json_line("INFO", "telegram", "bot connected as @agent"), "channel_connected"),
        (json_line("WARN", "channels/discord", "gateway disconnected, reconnecting"), "channel_disconnected"),
        (json_line("INFO", "whatsapp", "logged in"), "channel_connected"),
    ],
)
def test_enrichment_wordings(text: str, kind: str) -> None:
    envelope = event_of(text)
    assert envelope is not None and envelope.kind == "gateway_event"
    assert row(envelope)["kind"] == kind


def test_debug_and_ordinary_lines_give_nothing() -> None:
    assert event_of(json_line("DEBUG", "gateway", "request failed: ECONNRESET")) is None
    assert event_of(json_line("INFO", "gateway", "all good")) is None
    assert event_of("just some text") is None


def test_the_raw_line_in_metadata_is_bounded_and_the_time_is_the_lines() -> None:
    text = json_line("ERROR", "gateway", "boom " + "x" * 100_000)
    envelope = event_of(text)
    assert envelope is not None
    assert envelope.created_at_ms == 1795323600000
    values = row(envelope)
    assert len(values["metadata"]["raw"].encode()) <= RAW_MAX_BYTES
    assert len(values["message"].encode()) <= LIMITS.max_text_bytes
    assert event_of("ERROR no time here") is not None
    assert (event_of("ERROR no time here") or Envelope("", 0, ())).created_at_ms == NOW_MS


@given(st.text(max_size=200), st.sampled_from(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]))
def test_any_line_classifies_without_raising(text: str, level: str) -> None:
    for candidate in (text, json_line(level, "gateway", text), json_line(level, None, {"event": text, "error": text})):
        envelope = event_of(candidate)
        if envelope is not None:
            assert len(envelope.values) == len(COLUMNS[envelope.kind])
