"""Realistic trace events for the benchmark: request bodies and pre-fill rows.

Seeded, so every run sends the same bytes and builds the same kind of table.
A single event is sized to ~1 KB of JSON, the size PERFORMANCE.md measured
with; the texts look like prompts and answers rather than one repeated byte,
so SQLite pages hold what they would hold in use.
"""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

SINGLE_EVENT_BYTES = 1024
PROVIDERS = {
    "anthropic": ("claude-sonnet-4", "claude-haiku-4"),
    "openai": ("gpt-4.1", "gpt-4.1-mini"),
    "google": ("gemini-2.5-pro", "gemini-2.5-flash"),
}
CHANNELS = ("slack", "cli", "web", "telegram")
_VOCABULARY = (
    "agent tool call session context retry summary file repository test error build deploy "
    "branch commit review latency token prompt answer model cache index query table schema "
    "user request response stream chunk timeout budget queue writer sqlite health metric"
)
_WORDS = _VOCABULARY.split()


def sentence(rng: random.Random, length: int) -> str:
    """About ``length`` characters of plain words (ASCII, so characters == bytes)."""
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length]


def trace_event(rng: random.Random, input_len: int = 560, output_len: int = 220) -> dict[str, Any]:
    provider = rng.choice(list(PROVIDERS))
    prompt_tokens = rng.randint(200, 4000)
    completion_tokens = rng.randint(20, 800)
    return {
        "provider": provider,
        "model": rng.choice(PROVIDERS[provider]),
        "input_text": sentence(rng, input_len),
        "output_text": sentence(rng, output_len),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost_usd": round(rng.uniform(0.0001, 0.05), 6),
        "latency_ms": round(rng.uniform(150, 9000), 1),
        "status": "ok",
        "session_id": f"sess-{rng.randrange(16**8):08x}",
        "agent_id": f"agent-{rng.randrange(8)}",
        "channel": rng.choice(CHANNELS),
        "metadata": {"host": "bench", "attempt": 1},
    }


def single_event_body(seed: int = 1) -> bytes:
    """One event as a JSON object of exactly ``SINGLE_EVENT_BYTES`` bytes."""
    rng = random.Random(seed)
    event = trace_event(rng)
    encoded = _encode(event)
    # Grow or shrink the prompt to land on the size exactly.
    event["input_text"] = sentence(rng, len(event["input_text"]) + SINGLE_EVENT_BYTES - len(encoded))
    encoded = _encode(event)
    assert len(encoded) == SINGLE_EVENT_BYTES, len(encoded)
    return encoded


def batch_body(count: int, seed: int = 2) -> bytes:
    """A JSON array of ``count`` different ~1 KB events."""
    rng = random.Random(seed)
    return _encode([trace_event(rng) for _ in range(count)])


def _encode(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def otlp_spans_body(count: int, encoding: str, seed: int = 3) -> bytes:
    """An OTLP export request of ``count`` GenAI model-call spans (the native events' fields as
    semantic-convention attributes, ~1 KB of text each), as protobuf or as OTLP/JSON.

    Every span starts at the same instant, now. Now: a live exporter's spans
    are recent (and a daemon on the default retention, run by hand, deletes
    old ones as they are written). The same instant: wrk sends this body again and again, and 50
    distinct start times repeated would insert each request's rows at 50
    places of the time index (2.4× the writer's time per row, measured),
    where a live exporter's ever later spans, like native events stamped on
    arrival, append at its end."""
    # Imported here: only the OTLP scenarios need the protobuf classes.
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rng = random.Random(seed)
    start_ns = time.time_ns() // 1_000_000_000 * 1_000_000_000
    spans = []
    for _ in range(count):
        event = trace_event(rng)
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": event["provider"],
            "gen_ai.request.model": event["model"],
            "gen_ai.response.model": event["model"],
            "gen_ai.usage.input_tokens": event["prompt_tokens"],
            "gen_ai.usage.output_tokens": event["completion_tokens"],
            "gen_ai.conversation.id": event["session_id"],
            "gen_ai.agent.id": event["agent_id"],
            "openclaw.channel": event["channel"],
            "gen_ai.input.messages": event["input_text"],
            "gen_ai.output.messages": event["output_text"],
        }
        began = start_ns
        spans.append({
            "traceId": f"{rng.getrandbits(128):032x}",
            "spanId": f"{rng.getrandbits(64):016x}",
            "name": f"chat {event['model']}",
            "kind": 3,
            "startTimeUnixNano": str(began),
            "endTimeUnixNano": str(began + int(event["latency_ms"] * 1e6)),
            "attributes": [{"key": key, "value": _any_value(value)} for key, value in attributes.items()],
            "status": {},
        })  # fmt: skip
    request = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bench-agent"}}]},
            "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
        }]
    }  # fmt: skip
    if encoding == "json":
        return _encode(request)
    message = ExportTraceServiceRequest()
    for resource_spans in request["resourceSpans"]:  # ids are hex in OTLP/JSON, base64 in protobuf's own mapping
        for span in resource_spans["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId"):
                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    json_format.ParseDict(request, message)
    return bytes(message.SerializeToString())


def _any_value(value: object) -> dict[str, object]:
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": str(value)}
