"""The retry policy as pure functions (tables + hypothesis), and PushClient against a real receiver."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.config_types import parse_headers
from openclaw_trace.push.client import (
    MAX_RETRY_AFTER_S,
    Outcome,
    PushClient,
    SendResult,
    backoff_delay_s,
    classify,
    parse_retry_after_s,
    retry_wait_s,
)
from tests.push.receiver import Receiver, Step, closed_port_url

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.ACKED),
        (202, Outcome.ACKED),
        (204, Outcome.ACKED),
        (301, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (408, Outcome.RETRYABLE),
        (413, Outcome.PERMANENT),
        (415, Outcome.PERMANENT),
        (429, Outcome.RETRYABLE),
        (500, Outcome.RETRYABLE),
        (502, Outcome.RETRYABLE),
        (503, Outcome.RETRYABLE),
        (504, Outcome.RETRYABLE),
        (507, Outcome.RETRYABLE),
    ],
)
def test_classify(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("-3", None),
        ("1.5", None),
        ("soon", None),
        ("²", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after_s(value, NOW) == seconds


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises_and_is_never_negative(value: str) -> None:
    found = parse_retry_after_s(value, NOW)
    assert found is None or found >= 0


@given(
    attempt=st.integers(min_value=0, max_value=200),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=100),
    r=st.floats(min_value=0, max_value=0.999999),
)
def test_backoff_is_full_jitter_within_the_capped_exponential(attempt: int, base: float, cap: float, r: float) -> None:
    delay = backoff_delay_s(attempt, base, cap, lambda: r)
    assert 0 <= delay <= min(cap, base * 2 ** min(attempt, 32))


def test_backoff_ceiling_doubles_until_the_cap() -> None:
    ceilings = [backoff_delay_s(a, 1.0, 10.0, lambda: 1.0) for a in range(6)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_retry_after_is_a_floor_for_the_wait() -> None:
    busy = SendResult(Outcome.RETRYABLE, 429, retry_after_s=5.0)
    assert retry_wait_s(busy, 0, 1.0, 30.0, lambda: 0.1) == 5.0
    assert retry_wait_s(busy, 10, 1.0, 30.0, lambda: 0.5) == 15.0
    assert retry_wait_s(SendResult(Outcome.RETRYABLE, 503), 0, 1.0, 30.0, lambda: 0.5) == 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("X-A: 1", {"X-A": "1"}),
        ("X-A: 1, X-Tenant: north ", {"X-A": "1", "X-Tenant": "north"}),
        ("Authorization: Basic abc=", {"Authorization": "Basic abc="}),
        ("X-A: a:b", {"X-A": "a:b"}),
        ("X-A: 1\nX-B: 2\n", {"X-A": "1", "X-B": "2"}),
    ],
)
def test_parse_headers(text: str, expected: dict[str, str]) -> None:
    assert parse_headers(text) == expected


@pytest.mark.parametrize("text", ["novalue", ": x", "Bad Name: x", "X-A: 1, Bearer sk-novalue"])
def test_parse_headers_refuses_bad_pairs_by_place_not_by_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"header pair \d of \d is not 'Name: value'") as caught:
        parse_headers(text)
    assert "value" not in str(caught.value).replace("'Name: value'", "")  # a header's value may be a credential


def test_send_gzips_and_sends_token_and_headers() -> None:
    with Receiver() as receiver:
        client = PushClient(receiver.url + "/in?tenant=1", token="tok", headers={"X-Fleet": "n"})
        result = client.send("", b'{"a": 1}', "application/json")
        [record] = receiver.records
    assert result.outcome is Outcome.ACKED and result.status == 200
    assert record.path == "/in?tenant=1"
    assert record.body == b'{"a": 1}'
    assert record.headers["content-encoding"] == "gzip"
    assert record.headers["authorization"] == "Bearer tok"
    assert record.headers["x-fleet"] == "n"
    assert record.headers["user-agent"].startswith("openclaw-trace/")


def test_send_reports_failures_as_values() -> None:
    down = PushClient(closed_port_url()).send("", b"{}", "application/json")
    assert (down.outcome, down.status, down.error) == (Outcome.RETRYABLE, None, "connection refused")
    with Receiver([Step(hang_up=True), Step(delay_s=2.0), Step(400), Step(503, headers=(("Retry-After", "2"),))]) as r:
        client = PushClient(r.url, request_timeout_s=0.3)
        cut = client.send("", b"{}", "application/json")
        slow = client.send("", b"{}", "application/json")
        refused = client.send("", b"{}", "application/json")
        busy = client.send("", b"{}", "application/json")
    assert (cut.outcome, cut.status) == (Outcome.RETRYABLE, None)
    assert (slow.outcome, slow.error) == (Outcome.RETRYABLE, "timeout")
    assert (refused.outcome, refused.status) == (Outcome.PERMANENT, 400)
    assert refused.error is not None and refused.error.startswith("HTTP 400")
    assert (busy.outcome, busy.status, busy.retry_after_s) == (Outcome.RETRYABLE, 503, 2.0)


def test_endpoint_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        PushClient("ftp://example.org/x")


@pytest.mark.parametrize("value", ["9" * 400, "99999999999", "Fri, 01 Jan 9999 00:00:00 GMT"])
def test_a_huge_retry_after_is_clamped_not_raised(value: str) -> None:
    assert parse_retry_after_s(value, NOW) == MAX_RETRY_AFTER_S
