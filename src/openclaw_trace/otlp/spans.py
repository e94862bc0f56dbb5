"""Spans → model-call traces and error events. Pure: the request and the clock come in.

- A model call: OpenClaw's ``openclaw.model.usage`` span, a failed
  ``openclaw.model.call`` span (a call that failed has no usage span), or
  any span carrying GenAI semantic-convention attributes → one
  ``llm_traces`` row; a failed one also → an ``llm_error``.
- A failed run (``openclaw.run`` / ``openclaw.harness.run``), a webhook
  error, a stuck session, or any other span with an error status or
  ``error.type`` → one ``error_events`` row.
- Everything else is counted as ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from openclaw_trace.model import ErrorIn, EventLimits, TraceIn
from openclaw_trace.otlp.values import MappingResult, ResourceInfo, as_count, as_number, as_text, first, nanos_to_ms
from openclaw_trace.otlp.views import ResourceSpans, SpanView

GENAI_MODEL_KEYS = frozenset({
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
})  # fmt: skip
_NOT_MODEL_CALLS = {"execute_tool", "invoke_agent", "create_agent"}
_TEXT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.prompt", "gen_ai.completion")
_RUN_SPANS = {"openclaw.run", "openclaw.harness.run"}

# A model call's fields → the attributes that may carry each, the first found wins.
_TRACE_ATTRIBUTES = {
    "provider": ("openclaw.provider", "gen_ai.provider.name", "gen_ai.system"),
    "model": ("openclaw.model", "gen_ai.response.model", "gen_ai.request.model"),
    "input_text": ("gen_ai.input.messages", "gen_ai.prompt"),
    "output_text": ("gen_ai.output.messages", "gen_ai.completion"),
    "prompt_tokens": ("openclaw.tokens.input", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "completion_tokens": ("openclaw.tokens.output", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "total_tokens": ("openclaw.tokens.total", "gen_ai.usage.total_tokens"),
    "cache_read_tokens": (
        "openclaw.tokens.cache_read",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
    ),
    "cache_write_tokens": (
        "openclaw.tokens.cache_write",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ),
    "cost_usd": ("openclaw.cost.usd", "openclaw.cost_usd", "openclaw.costUsd", "gen_ai.usage.cost"),
    "error_type": ("error.type", "openclaw.errorCategory", "openclaw.failureKind"),
    "session_id": ("openclaw.sessionId", "openclaw.sessionKey", "session.id", "gen_ai.conversation.id"),
    "agent_id": ("openclaw.agentId", "gen_ai.agent.id", "gen_ai.agent.name"),
    "channel": ("openclaw.channel",),
}


def map_spans(resources: list[ResourceSpans], received_at_ms: int, limits: EventLimits) -> MappingResult:
    """The events of an export request's spans (``views.spans_of_protobuf``, ``json_traces.decode_json_traces``)."""
    result = MappingResult()
    for resource_spans in resources:
        resource = ResourceInfo(resource_spans.attributes)
        for scope, spans in resource_spans.scopes:
            origin = _origin(resource, scope)
            for span in spans:
                _map_span(span, origin, received_at_ms, limits, result)
    return result


def _origin(resource: ResourceInfo, scope: str | None) -> dict[str, str]:
    """What every span of one scope says in its metadata of where it came from (set keys only)."""
    origin = {"service_name": resource.service_name, "host_name": resource.host_name, "scope": scope}
    return {key: value for key, value in origin.items() if value is not None}


def _map_span(
    span: SpanView, origin: dict[str, str], received_at_ms: int, limits: EventLimits, result: MappingResult
) -> None:
    attrs = span.attributes
    failed = span.status_error or attrs.get("openclaw.outcome") == "error"
    at_ms = nanos_to_ms(span.start_ns) or received_at_ms
    if _is_model_call(span.name, attrs, failed):
        trace, in_columns = _trace_fields(span, attrs, failed, at_ms)
        trace["metadata"] = _metadata(span, attrs, origin, in_columns)
        result.add_event(TraceIn, trace, received_at_ms, limits)
        if failed:
            # Its own metadata: the error row is written (and may be scrubbed) apart from the trace row.
            metadata = _metadata(span, attrs, origin, in_columns)
            result.add_event(ErrorIn, _llm_error_fields(span, attrs, trace, metadata, at_ms), received_at_ms, limits)
        return
    error = _error_fields(span, attrs, failed, _metadata(span, attrs, origin, ()), at_ms)
    if error is None:
        result.ignored += 1
        return
    result.add_event(ErrorIn, error, received_at_ms, limits)


def _is_model_call(name: str, attrs: dict[str, Any], failed: bool) -> bool:
    if name == "openclaw.model.usage":
        return True
    if name == "openclaw.model.call":
        return failed  # a successful call is recorded by its usage span
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _NOT_MODEL_CALLS:  # any value type may come: a list is unhashable
        return False
    return not GENAI_MODEL_KEYS.isdisjoint(attrs)


# Each trace field with a converter and the attributes that may carry it, present in a
# span, best first. A producer sends its spans' attributes under the same keys again and
# again: the plan is worked out once per set of keys, not once per span.
_Plan = tuple[tuple[str, Callable[[Any], Any], tuple[str, ...]], ...]
_plans: dict[tuple[tuple[str, ...], bool], _Plan] = {}
PLANS_KEPT = 1024  # at most this many sets of keys are remembered


def plans_remembered() -> int:
    """How many sets of keys have their plan remembered now (at most ``PLANS_KEPT``)."""
    return len(_plans)


def _plan(attrs: dict[str, Any], failed: bool) -> _Plan:
    """The plan for a span with these attributes; a call that did not fail has no error type."""
    keys = (tuple(attrs), failed)
    plan = _plans.get(keys)
    if plan is None:
        plan = tuple(
            (field, _AS_COLUMN[field], present)
            for field, candidates in _TRACE_ATTRIBUTES.items()
            if (present := tuple(key for key in candidates if key in attrs)) and (failed or field != "error_type")
        )
        if len(_plans) >= PLANS_KEPT:  # keys made up per span: keep the memory bounded
            _plans.clear()
        _plans[keys] = plan
    return plan


def _trace_fields(span: SpanView, attrs: dict[str, Any], failed: bool, at_ms: int) -> tuple[dict[str, Any], list[str]]:
    """The trace row's fields but its metadata (a field left out is None), and the attributes
    whose very value a column holds (not cut, not converted): the metadata does not repeat them."""
    fields: dict[str, Any] = {}
    in_columns: list[str] = []
    for field, as_column, keys in _plan(attrs, failed):
        for key in keys:  # the first present and not None
            value = attrs[key]
            if value is not None:
                break
        else:
            continue
        column = fields[field] = as_column(value)
        if column is value or (type(column) is type(value) and column == value):
            in_columns.append(key)
    for name in ("provider", "model"):  # required, never empty
        if not fields.get(name):
            fields[name] = "unknown"
    if fields.get("total_tokens") is None:
        prompt, completion = fields.get("prompt_tokens"), fields.get("completion_tokens")
        if prompt is not None or completion is not None:
            fields["total_tokens"] = (prompt or 0) + (completion or 0)
    duration_ns = span.end_ns - span.start_ns
    fields["latency_ms"] = duration_ns / 1e6 if duration_ns > 0 else None
    fields["status"] = "error" if failed else "ok"
    fields["timestamp_ms"] = at_ms
    return fields, in_columns


def _llm_error_fields(
    span: SpanView, attrs: dict[str, Any], trace: dict[str, Any], metadata: dict[str, Any], at_ms: int
) -> dict[str, Any]:
    return {
        "error_type": "llm_error",
        "category": classify_llm_failure(attrs, span.status_message),
        "severity": "error",
        "message": _message(span, attrs),
        "stack_trace": _stack_trace(span),
        "provider": trace["provider"],
        "model": trace["model"],
        "session_id": trace.get("session_id"),
        "agent_id": trace.get("agent_id"),
        "channel": trace.get("channel"),
        "timestamp_ms": at_ms,
        "metadata": metadata,
    }


def _error_fields(
    span: SpanView, attrs: dict[str, Any], failed: bool, metadata: dict[str, Any], at_ms: int
) -> dict[str, Any] | None:
    name = span.name
    if name == "openclaw.webhook.error":
        error_type, category, severity = "system_error", "webhook", "error"
    elif name == "openclaw.session.stuck":
        error_type, category, severity = "system_error", "session_stuck", "warning"
    elif name in _RUN_SPANS and failed:
        error_type, category, severity = "crash", "run_failed", "error"
    elif failed or "error.type" in attrs:
        category = _short(first(attrs, "error.type", "openclaw.errorCategory")) or name[:256]
        error_type, severity = "system_error", "warning" if name.endswith(".warning") else "error"
    else:
        return None
    return {
        "error_type": error_type,
        "category": category,
        "severity": severity,
        "message": _message(span, attrs),
        "stack_trace": _stack_trace(span),
        "provider": _short(first(attrs, *_TRACE_ATTRIBUTES["provider"])),
        "model": _short(first(attrs, "openclaw.model", "gen_ai.request.model")),
        "session_id": _short(first(attrs, "openclaw.sessionId", "openclaw.sessionKey", "session.id")),
        "agent_id": _short(first(attrs, "openclaw.agentId", "gen_ai.agent.id")),
        "channel": _short(first(attrs, *_TRACE_ATTRIBUTES["channel"])),
        "timestamp_ms": at_ms,
        "metadata": metadata,
    }


def classify_llm_failure(attrs: dict[str, Any], status_message: str) -> str:
    """A category for a failed model call from whatever the producer said about it."""
    said = " ".join(
        str(value)
        for value in (
            attrs.get("error.type"),
            attrs.get("openclaw.errorCategory"),
            attrs.get("openclaw.failureKind"),
            attrs.get("http.response.status_code"),
            status_message,
        )
        if value is not None
    ).lower()
    rules = (
        ("rate_limit", ("429", "rate", "quota", "too many")),
        ("timeout", ("timeout", "timed out", "deadline")),
        ("auth", ("401", "403", "auth", "unauthorized", "forbidden", "api key")),
        ("malformed_response", ("malformed", "parse", "invalid response", "json")),
        ("server_error", ("500", "502", "503", "504", "5xx", "server", "overloaded", "unavailable")),
    )
    for category, needles in rules:
        if any(needle in said for needle in needles):
            return category
    return "api_failure"


def _metadata(
    span: SpanView, attrs: dict[str, Any], origin: dict[str, str], in_columns: Iterable[str]
) -> dict[str, Any]:
    """The span's ids, name and origin, and its attributes but those the row's columns hold
    (``in_columns``, and the message texts): a value is stored once."""
    kept = dict(attrs)
    for key in in_columns:
        del kept[key]
    for key in _TEXT_KEYS:
        kept.pop(key, None)
    metadata: dict[str, Any] = {"source": "otlp", "span_name": span.name}
    if span.trace_id is not None:
        metadata["trace_id"] = span.trace_id
    if span.span_id is not None:
        metadata["span_id"] = span.span_id
    if span.parent_span_id is not None:
        metadata["parent_span_id"] = span.parent_span_id
    metadata.update(origin)
    metadata["attributes"] = kept
    return metadata


def _message(span: SpanView, attrs: dict[str, Any]) -> str:
    for name, event_attrs in span.events:
        if name == "exception":
            message = event_attrs.get("exception.message")
            if isinstance(message, str) and message:
                return message
    text = span.status_message or first(attrs, "error.message", "openclaw.error", "error.type")
    return str(text) if text else span.name


def _stack_trace(span: SpanView) -> str | None:
    for name, event_attrs in span.events:
        if name == "exception":
            stack = event_attrs.get("exception.stacktrace")
            if isinstance(stack, str):
                return stack
    return None


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:256] or None


# A trace field's column value from its attribute's value, whatever type that came as.
_AS_COLUMN: dict[str, Callable[[Any], Any]] = {
    "provider": _short,
    "model": _short,
    "input_text": as_text,
    "output_text": as_text,
    "prompt_tokens": as_count,
    "completion_tokens": as_count,
    "total_tokens": as_count,
    "cache_read_tokens": as_count,
    "cache_write_tokens": as_count,
    "cost_usd": as_number,
    "error_type": _short,
    "session_id": _short,
    "agent_id": _short,
    "channel": _short,
}
assert _AS_COLUMN.keys() == _TRACE_ATTRIBUTES.keys()
