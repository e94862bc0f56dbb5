"""Log records → error events at WARN and above; the rest is counted. Pure."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from openclaw_trace.model import ErrorIn, EventLimits
from openclaw_trace.otlp.values import MappingResult, ResourceInfo, any_value, as_text, attributes, hex_id, nanos_to_ms

# OTLP severity numbers: 13–16 WARN, 17–20 ERROR, 21–24 FATAL.
WARN_MIN = 13
ERROR_MIN = 17
FATAL_MIN = 21
_TEXT_SEVERITY = {"warn": 13, "warning": 13, "error": 17, "fatal": 21, "critical": 21}


def severity_number(record: LogRecord) -> int:
    if record.severity_number:
        return int(record.severity_number)
    return _TEXT_SEVERITY.get(record.severity_text.strip().lower(), 0)


def map_logs(request: ExportLogsServiceRequest, received_at_ms: int, limits: EventLimits) -> MappingResult:
    result = MappingResult()
    for resource_logs in request.resource_logs:
        resource = ResourceInfo.of(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name or None
            for record in scope_logs.log_records:
                number = severity_number(record)
                if number < WARN_MIN:
                    result.ignored += 1
                    continue
                fields = _error_fields(record, number, resource, scope, received_at_ms)
                result.add_event(ErrorIn, fields, received_at_ms, limits)
    return result


def _error_fields(
    record: LogRecord, number: int, resource: ResourceInfo, scope: str | None, received_at_ms: int
) -> dict[str, Any]:
    attrs = attributes(record.attributes)
    body = any_value(record.body) if record.HasField("body") else None
    subsystem = attrs.get("openclaw.subsystem")
    category = str(subsystem) if subsystem else scope
    message = as_text(body) or attrs.get("exception.message") or f"{record.severity_text or 'WARN'} log record"
    at_ms = nanos_to_ms(record.time_unix_nano or record.observed_time_unix_nano) or received_at_ms
    metadata = {
        "source": "otlp_log",
        "severity_text": record.severity_text or None,
        "severity_number": number,
        "trace_id": hex_id(record.trace_id),
        "span_id": hex_id(record.span_id),
        "service_name": resource.service_name,
        "host_name": resource.host_name,
        "scope": scope,
        "attributes": attrs,
    }
    return {
        "error_type": "crash" if number >= FATAL_MIN else "system_error",
        "category": category[:256] if category else None,  # a longer one would refuse the record
        "severity": "critical" if number >= FATAL_MIN else "error" if number >= ERROR_MIN else "warning",
        "message": str(message),
        "stack_trace": attrs.get("exception.stacktrace")
        if isinstance(attrs.get("exception.stacktrace"), str)
        else None,
        "timestamp_ms": at_ms,
        "metadata": {key: value for key, value in metadata.items() if value is not None},
    }
