"""Generated hostile bodies against a real daemon: only 2xx or 4xx, and the books still balance.

Hypothesis builds JSON that is shaped like our events but with any value
in any field, arbitrary JSON, byte-mangled valid bodies and random bytes
under the OTLP protobuf type. One daemon takes them all; afterwards the
writer is alive, every received event is written or counted as dropped,
every written event is a row, and the database is intact. Derandomized, so
a failure in CI reproduces on any machine.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openclaw_trace.daemon import Daemon
from openclaw_trace.model import ErrorIn, TraceIn
from openclaw_trace.storage import writes
from tests.conftest import Client, rows

VALID_TRACE = b'{"provider":"p","model":"m","input_text":"hello","prompt_tokens":3,"metadata":{"k":1}}'
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Fragments no JSON encoder writes but a hostile client may send.
HOSTILE_VALUES = [b"NaN", b"-Infinity", b"1e999", b"9" * 5000, b'"\\ud800"', b'"\\udc00x"', b"[" * 2000, b"\xff"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=15,
)


def event_shaped(fields: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """A JSON object (or array of them) with our field names, any value in any of them."""
    one = st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), json_values, max_size=len(fields))
    documents = one | st.lists(one, max_size=4)
    return documents.map(lambda document: json.dumps(document).encode())


def with_hostile_value(fields: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """A valid-looking event with one field set to raw text no encoder would write."""
    return st.tuples(st.sampled_from(fields), st.sampled_from(HOSTILE_VALUES)).map(
        lambda pair: (
            b'{"provider":"p","model":"m","error_type":"crash","message":"x","%s":%s}' % (pair[0].encode(), pair[1])
        )
    )


mangled = st.tuples(st.integers(0, len(VALID_TRACE)), st.integers(0, 8), st.binary(max_size=8)).map(
    lambda cut: VALID_TRACE[: cut[0]] + cut[2] + VALID_TRACE[cut[0] + cut[1] :]
)


def bodies(fields: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    return (
        event_shaped(fields)
        | with_hostile_value(fields)
        | mangled
        | json_values.map(lambda value: json.dumps(value).encode())
        | st.binary(max_size=64)
    )


def assert_books_balance(daemon: Daemon, client: Client) -> None:
    assert daemon.writer.flush(10)
    report = client.health()
    assert report["writer"]["alive"] is True
    assert report["queue_depth"] == 0
    assert report["events_received"] == report["events_written"] + report["events_dropped"]
    db = daemon.config.db_path
    # Every data table: the metrics collector's samples count as written too.
    stored = sum(len(rows(db, f"SELECT id FROM {table}")) for table in writes.TABLES.values())
    assert stored == report["events_written"]
    assert rows(db, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"


def fuzz_native(client: Client, path: str, fields: tuple[str, ...], statuses: Counter[int]) -> None:
    @FUZZ
    @given(body=bodies(fields))
    def post(body: bytes) -> None:
        status, answer = client.post(path, body)
        statuses[status] += 1
        assert status in (202, 400, 413), (status, answer)
        assert isinstance(answer, dict)
        if status == 202:
            assert answer["queued"] + answer["dropped"] == answer["received"]  # 0 for an empty array
        else:
            message: Any = answer["error"]
            assert isinstance(message, str) and message
            assert "\n" not in message and "Traceback" not in message

    post()


def test_generated_native_bodies_get_202_or_a_4xx_naming_the_problem(daemon: Daemon, client: Client) -> None:
    traces: Counter[int] = Counter()
    errors: Counter[int] = Counter()
    fuzz_native(client, "/v1/traces", tuple(TraceIn.__struct_fields__), traces)
    fuzz_native(client, "/v1/errors", tuple(ErrorIn.__struct_fields__), errors)
    # The generators reach both sides of the validation on both endpoints.
    assert traces[202] > 0 and traces[400] > 0, traces
    assert errors[202] > 0 and errors[400] > 0, errors
    assert_books_balance(daemon, client)


def test_random_bytes_as_otlp_protobuf_get_200_or_400(daemon: Daemon, client: Client) -> None:
    seen: Counter[int] = Counter()

    @FUZZ
    @given(path=st.sampled_from(["/v1/traces", "/v1/metrics", "/v1/logs"]), body=st.binary(max_size=256))
    def post(path: str, body: bytes) -> None:
        status, answer = client.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
        seen[status] += 1
        # 200 also for bytes that happen to parse as an (often empty) export request.
        assert status in (200, 400), (status, answer)

    post()
    assert seen[400] > 0
    assert_books_balance(daemon, client)
