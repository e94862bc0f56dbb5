"""Protobuf spans as the mapper reads them: plain values, attributes turned into a dict once."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from openclaw_trace.otlp.views import ResourceSpans, SpanView, spans_of_protobuf
from tests.otlp.spans_builder import SPAN_ID, START_NS, TRACE_ID, kvs, span, traces_request


def test_resources_scopes_and_spans_keep_their_shape_and_order() -> None:
    request = traces_request(span("first"), span("second"), service="gw")
    second = request.resource_spans.add()
    second.resource.attributes.extend(kvs({"service.name": "other"}))
    second.scope_spans.add().spans.append(span("third"))  # a scope without a name
    views = spans_of_protobuf(request)
    assert [resource.attributes["service.name"] for resource in views] == ["gw", "other"]
    assert [(scope, [s.name for s in spans]) for scope, spans in views[0].scopes] == [("openclaw", ["first", "second"])]
    assert [(scope, [s.name for s in spans]) for scope, spans in views[1].scopes] == [(None, ["third"])]


def test_a_span_becomes_plain_values() -> None:
    failed = span("openclaw.model.call", {"openclaw.model": "m", "tokens": 3}, error="boom", duration_ms=250)
    failed.parent_span_id = bytes.fromhex("00f067aa0ba902b7")
    event = failed.events.add()
    event.name = "exception"
    event.attributes.extend(kvs({"exception.message": "boom"}))
    [resource] = spans_of_protobuf(traces_request(failed))
    assert resource == ResourceSpans(
        {"service.name": "openclaw-gateway", "host.name": "agent-host"},
        [
            (
                "openclaw",
                [
                    SpanView(
                        name="openclaw.model.call",
                        trace_id=TRACE_ID.hex(),
                        span_id=SPAN_ID.hex(),
                        parent_span_id="00f067aa0ba902b7",
                        start_ns=START_NS,
                        end_ns=START_NS + 250_000_000,
                        status_error=True,
                        status_message="boom",
                        attributes={"openclaw.model": "m", "tokens": 3},
                        events=[("exception", {"exception.message": "boom"})],
                    )
                ],
            )
        ],
    )


def test_absent_or_zero_ids_and_other_statuses_read_as_nothing_and_no_error() -> None:
    request = ExportTraceServiceRequest()
    bare = Span(name="bare", trace_id=bytes(16), span_id=b"")
    bare.status.code = Status.STATUS_CODE_OK
    request.resource_spans.add().scope_spans.add().spans.append(bare)
    [[(_, [view])]] = [resource.scopes for resource in spans_of_protobuf(request)]
    assert (view.trace_id, view.span_id, view.parent_span_id) == (None, None, None)
    assert (view.status_error, view.status_message, view.attributes, view.events) == (False, "", {}, [])
