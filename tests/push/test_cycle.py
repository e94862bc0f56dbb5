"""A push cycle's final status, and the endpoint as it may be logged."""

from __future__ import annotations

from typing import Any

import pytest

from openclaw_trace.config_types import endpoint_label
from openclaw_trace.push.cycle import MAX_ERROR_CHARS, CycleReport


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, "ok"),
        ({"events": 5}, "ok"),
        ({"failed": True}, "failed"),
        ({"failed": True, "events": 3}, "partial"),
        ({"rejected": 2}, "rejected"),
        ({"rejected": 2, "events": 3}, "partial"),
        ({"interrupted": True}, "interrupted"),
        ({"interrupted": True, "failed": True}, "failed"),
    ],
)
def test_final_status(fields: dict[str, Any], status: str) -> None:
    assert CycleReport(started_at_ms=0, **fields).final_status() == status


def test_the_first_error_is_kept_and_cut() -> None:
    report = CycleReport(started_at_ms=0)
    report.note_error("x" * (MAX_ERROR_CHARS + 100))
    report.note_error("a later one")
    assert report.error == "x" * MAX_ERROR_CHARS


@pytest.mark.parametrize(
    ("endpoint", "label"),
    [
        ("https://user:secret@example.com:8443/v1/ingest?token=abc", "https://example.com:8443/…#"),
        ("https://hooks.slack.com/services/T0123/B0456/XyZsecret", "https://hooks.slack.com:443/…#"),
        ("http://[::1]:9000/push", "http://[::1]:9000/…#"),
        ("http://127.0.0.1/x#frag", "http://127.0.0.1:80/…#"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),  # nothing to hide
    ],
)
def test_endpoint_label_keeps_only_scheme_host_and_port(endpoint: str, label: str) -> None:
    shown = endpoint_label(endpoint)
    assert shown.startswith(label)
    assert len(shown) == len(label) + (8 if label.endswith("#") else 0)  # and a short hash of the rest


def test_endpoint_labels_tell_endpoints_apart_by_what_they_hide() -> None:
    one, other = "https://hooks.slack.com/services/T1/B1/aaa", "https://hooks.slack.com/services/T1/B1/bbb"
    assert endpoint_label(one) == endpoint_label(one)
    assert endpoint_label(one) != endpoint_label(other)
