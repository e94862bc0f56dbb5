"""OTLP/HTTP against a real daemon: recorded requests, the official SDK exporters, bad bodies."""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
import threading
import time
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from openclaw_trace.api import otlp as otlp_api
from openclaw_trace.daemon import Daemon
from tests.conftest import Client, rows
from tests.otlp.spans_builder import span, traces_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
FIXTURES = "tests/fixtures/otlp"


def fixture_bytes(name: str) -> bytes:
    with open(f"{FIXTURES}/{name}", "rb") as body:
        return body.read()


def chunked_post(port: int, path: str, body: bytes, content_type: str) -> bytes:
    """POST with Transfer-Encoding: chunked and no Content-Length, as OpenClaw's exporter does."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 500]), body[i : i + 500]) for i in range(0, len(body), 500))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + chunks + b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_recorded_requests_sent_chunked_land_as_rows(daemon: Daemon, client: Client) -> None:
    for name, path in (
        ("0046_v1_traces.bin", "/v1/traces"),
        ("0002_v1_logs.bin", "/v1/logs"),
        ("0001_v1_metrics.bin", "/v1/metrics"),
    ):
        answer = chunked_post(daemon.port, path, fixture_bytes(name), "application/x-protobuf")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"content-type: application/x-protobuf" in answer.lower()
    assert daemon.writer.flush(5)
    db = daemon.config.db_path
    [error] = rows(db, "SELECT error_type, message, metadata FROM error_events")
    assert (error["error_type"], error["message"]) == ("system_error", "event_loop_delay")
    metrics = rows(db, "SELECT name, kind, value, service_name FROM otel_metrics")
    assert {
        "name": "openclaw.telemetry.exporter.events",
        "kind": "sum",
        "value": 1.0,
        "service_name": "openclaw-gateway",
    } in metrics
    report = client.health()
    assert report["counters"]["otlp.logs.ignored"] > 0  # INFO logs counted, not stored
    assert report["events_received"] == report["events_written"]


def test_protobuf_gen_ai_span_gets_tokens_cost_and_latency(daemon: Daemon, client: Client) -> None:
    body = traces_request(
        span(
            "chat",
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 100,
            },
            duration_ms=420,
        )
    ).SerializeToString()
    status, answer = client.request("POST", "/v1/traces", body, PROTOBUF)
    assert status == 200
    assert ExportTraceServiceResponse.FromString(answer) == ExportTraceServiceResponse()
    assert daemon.writer.flush(5)
    [trace] = rows(daemon.config.db_path, "SELECT * FROM llm_traces")
    assert (trace["provider"], trace["model"], trace["prompt_tokens"], trace["completion_tokens"]) == (
        "openai",
        "gpt-4o",
        1000,
        100,
    )
    assert trace["cost_usd"] == pytest.approx((1000 * 2.5 + 100 * 10.0) / 1e6)
    assert trace["cost_source"] == "computed"
    assert trace["latency_ms"] == 420.0


def test_gzip_body(daemon: Daemon, client: Client) -> None:
    body = gzip.compress(traces_request(span("openclaw.session.stuck")).SerializeToString())
    status, _ = client.request("POST", "/v1/traces", body, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert status == 200
    assert daemon.writer.flush(5)
    assert len(rows(daemon.config.db_path, "SELECT id FROM error_events")) == 1


def test_native_json_still_works_beside_otlp_json(daemon: Daemon, client: Client) -> None:
    otlp_json = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "openclaw.session.stuck",
                                "startTimeUnixNano": "1795000000000000000",
                                "endTimeUnixNano": "1795000001000000000",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    status, answer = client.post("/v1/traces", otlp_json)
    assert (status, answer) == (200, {})
    status, answer = client.post("/v1/traces", {"provider": "p", "model": "m"})
    assert (status, answer) == (202, {"received": 1, "queued": 1, "dropped": 0})
    assert daemon.writer.flush(5)
    [error] = rows(daemon.config.db_path, "SELECT metadata FROM error_events")
    assert json.loads(error["metadata"])["trace_id"] == "5b8efff798038103d269b633813fc60c"


def test_partial_success_names_the_rejected(daemon: Daemon, client: Client) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    good = Metric(name="openclaw.queue.depth")
    good.gauge.data_points.add().as_int = 3
    bad = Metric(name="x" * 300)
    bad.gauge.data_points.add().as_int = 1
    scope.metrics.extend([good, bad])
    status, answer = client.request("POST", "/v1/metrics", request.SerializeToString(), PROTOBUF)
    assert status == 200
    response = ExportMetricsServiceResponse.FromString(answer)
    assert response.partial_success.rejected_data_points == 1
    assert "256" in response.partial_success.error_message
    assert daemon.writer.flush(5)
    assert [r["name"] for r in rows(daemon.config.db_path, "SELECT name FROM otel_metrics")] == ["openclaw.queue.depth"]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/v1/traces", b"\xff\xff\xff not protobuf", PROTOBUF, 400),
        ("/v1/metrics", b"\x0a\x05\x0a\x03", PROTOBUF, 400),
        ("/v1/logs", b"{not json", {"Content-Type": "application/json"}, 400),
        ("/v1/logs", b"hello", {"Content-Type": "text/plain"}, 415),
        ("/v1/metrics", b"", {"Content-Type": "application/grpc"}, 415),
        ("/v1/traces", b"\x1f\x8b garbage", {**PROTOBUF, "Content-Encoding": "gzip"}, 400),
        ("/v1/traces", b"x", {**PROTOBUF, "Content-Encoding": "zstd"}, 415),
    ],
)
def test_bad_otlp_requests_store_nothing(
    daemon: Daemon, client: Client, path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    got, answer = client.request("POST", path, body, headers)
    assert got == status
    assert answer["error"]
    assert daemon.writer.flush(5)
    for table in ("llm_traces", "error_events", "otel_metrics"):
        assert rows(daemon.config.db_path, f"SELECT id FROM {table}") == []
    assert client.health()["status"] == "ok"


def test_gzip_bomb_is_refused_after_the_limit(make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(max_body_bytes=64 * 1024)
    client = connect(daemon)
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))  # 50 MB of zeros in ~50 KB
    assert len(bomb) < 64 * 1024
    status, answer = client.request("POST", "/v1/traces", bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert status == 413
    assert "decompressed" in answer["error"]
    assert connect(daemon).health()["writer"]["alive"]


def test_oversize_otlp_body_is_413(make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(max_body_bytes=4096)
    status, _ = connect(daemon).request("POST", "/v1/logs", b"\x00" * 5000, PROTOBUF)
    assert status == 413


def test_queue_full_answers_503_with_retry_after(daemon: Daemon, client: Client) -> None:
    blocker = sqlite3.connect(daemon.config.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 511)[1]["queued"] == 511
        body = traces_request(span("openclaw.session.stuck"), span("openclaw.webhook.error")).SerializeToString()
        assert client.request("POST", "/v1/traces", body, PROTOBUF)[0] == 503
        assert client.last_headers["retry-after"] == "2"
        report = client.health()
        assert report["counters"]["otlp.traces.waited_for_room"] == 1  # for QUEUE_WAIT_S, in vain
        assert report["counters"]["otlp.traces.refused_requests"] == 1
        assert report["events_received"] == 511  # refused, not received: the exporter will retry
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert daemon.writer.flush(30)
    assert rows(daemon.config.db_path, "SELECT id FROM error_events") == []


def test_a_request_waits_for_room_in_a_full_queue_rather_than_be_refused(
    daemon: Daemon, client: Client, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(otlp_api, "QUEUE_WAIT_S", 60.0)  # the window, wide: the test waits for the wait
    blocker = sqlite3.connect(daemon.config.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer cannot commit: the queue stays full
    try:
        assert client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 511)[1]["queued"] == 511
        body = traces_request(span("openclaw.session.stuck"), span("openclaw.webhook.error")).SerializeToString()
        answers: list[int] = []
        sender = threading.Thread(
            target=lambda: answers.append(connect(daemon).request("POST", "/v1/traces", body, PROTOBUF)[0])
        )
        sender.start()
        while client.health()["counters"].get("otlp.traces.waited_for_room") != 1:
            sender.join(0.01)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    sender.join(30)
    assert answers == [200]
    assert "otlp.traces.refused_requests" not in client.health()["counters"]
    assert daemon.writer.flush(30)
    assert len(rows(daemon.config.db_path, "SELECT id FROM error_events")) == 2


def test_requests_before_the_decoder_is_ready_are_decoded_by_the_daemon_itself(daemon: Daemon, client: Client) -> None:
    body = traces_request(span("openclaw.webhook.error")).SerializeToString()
    assert client.health()["otlp_decoder"] == {"running": False, "pid": None, "starts": 0}  # none without OTLP
    assert client.request("POST", "/v1/traces", body, PROTOBUF)[0] == 200  # decoded here; the child starts
    while not client.health()["otlp_decoder"]["running"]:
        time.sleep(0.01)
    assert client.request("POST", "/v1/traces", body, PROTOBUF)[0] == 200  # decoded in the child
    assert client.health()["otlp_decoder"]["starts"] == 1
    assert daemon.writer.flush(30)
    assert len(rows(daemon.config.db_path, "SELECT id FROM error_events")) == 2


def test_multi_member_gzip_is_read_whole(daemon: Daemon, client: Client) -> None:
    events = [{"provider": "p", "model": f"m{i}"} for i in range(2)]
    body = b"[" + json.dumps(events[0]).encode() + b","
    tail = json.dumps(events[1]).encode() + b"]"
    two_members = gzip.compress(body) + gzip.compress(tail)
    status, answer = client.request(
        "POST", "/v1/traces", two_members, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    assert (status, answer) == (202, {"received": 2, "queued": 2, "dropped": 0})


def test_a_request_larger_than_the_queue_is_413_not_retried_forever(daemon: Daemon, client: Client) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    for i in range(600):
        metric = Metric(name=f"series.{i}")
        metric.gauge.data_points.add().as_int = i
        scope.metrics.append(metric)
    status, answer = client.request("POST", "/v1/metrics", request.SerializeToString(), PROTOBUF)
    assert status == 413
    assert "512" in answer["error"]
    assert client.health()["counters"]["otlp.metrics.too_large_requests"] == 1
