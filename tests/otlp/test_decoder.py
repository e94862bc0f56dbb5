"""The OTLP decoder process: the same events as mapping in-process, many requests at once, death and restart."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.decode import OtlpDecodeError
from openclaw_trace.otlp.decoder import DecoderUnavailable, OtlpDecoder
from openclaw_trace.otlp.requests import Signal, map_request
from openclaw_trace.otlp.values import MappingResult
from tests.otlp.spans_builder import otlp_json, span, traces_request

RECEIVED_MS = 1_800_000_000_000
MAX_TEXT_BYTES = 4096
T = TypeVar("T")


def with_decoder(test: Callable[[OtlpDecoder], Awaitable[T]]) -> T:
    """Runs ``test`` on a loop with a fresh decoder, stopped afterwards whatever happened."""

    async def run() -> T:
        decoder = OtlpDecoder(MAX_TEXT_BYTES, None)
        try:
            return await test(decoder)
        finally:
            await decoder.stop()

    return asyncio.run(run())


def recorded(name: str) -> bytes:
    with open(f"tests/fixtures/otlp/{name}", "rb") as body:
        return body.read()


def as_plain(result: MappingResult) -> tuple[Any, ...]:
    envelopes = [(e.kind, e.created_at_ms, e.values) for e in result.envelopes]
    return envelopes, result.rejected, result.ignored, result.errors


def in_process(signal: Signal, encoding: str, body: bytes) -> MappingResult:
    return map_request(signal, encoding, body, RECEIVED_MS, EventLimits(max_text_bytes=MAX_TEXT_BYTES))  # type: ignore[arg-type]


RECORDED = [
    ("traces", "protobuf", "0046_v1_traces.bin"),
    ("traces", "json", "0046_v1_traces.json"),
    ("logs", "protobuf", "0002_v1_logs.bin"),
    ("logs", "json", "0002_v1_logs.json"),
    ("metrics", "protobuf", "0001_v1_metrics.bin"),
    ("metrics", "json", "0001_v1_metrics.json"),
]


def test_it_starts_at_the_first_request_and_maps_each_recorded_one_as_in_process() -> None:
    async def test(decoder: OtlpDecoder) -> None:
        assert decoder.health() == {"running": False, "pid": None, "starts": 0}
        for signal_name, encoding, name in RECORDED:
            body = recorded(name)
            got = await decoder.map(signal_name, encoding, body, RECEIVED_MS)  # type: ignore[arg-type]
            expected = in_process(signal_name, encoding, body)  # type: ignore[arg-type]
            assert as_plain(got) == as_plain(expected), name
            assert isinstance(got.envelopes[0].values, tuple) if got.envelopes else True
        assert decoder.health()["running"] is True
        assert decoder.starts == 1

    with_decoder(test)


def test_a_body_that_does_not_decode_is_said_so_with_the_in_process_message() -> None:
    async def test(decoder: OtlpDecoder) -> None:
        with pytest.raises(OtlpDecodeError) as raised:
            await decoder.map("traces", "protobuf", b"\xff\xff\xff", RECEIVED_MS)
        with pytest.raises(OtlpDecodeError) as expected:
            in_process("traces", "protobuf", b"\xff\xff\xff")
        assert str(raised.value) == str(expected.value)
        # and the child is still there for the next one
        assert (await decoder.map("traces", "json", b"{}", RECEIVED_MS)).envelopes == []
        assert decoder.starts == 1

    with_decoder(test)


def test_many_requests_at_once_each_get_their_own_answer() -> None:
    bodies = [
        otlp_json(
            traces_request(span("openclaw.model.usage", {"openclaw.model": f"model-{i}", "openclaw.tokens.input": i}))
        )
        for i in range(40)
    ]

    async def test(decoder: OtlpDecoder) -> list[MappingResult]:
        return await asyncio.gather(*(decoder.map("traces", "json", body, RECEIVED_MS) for body in bodies))

    results = with_decoder(test)
    assert [r.envelopes[0].values[1] for r in results] == [f"model-{i}" for i in range(40)]


def test_a_dead_child_fails_what_it_held_and_the_next_request_starts_another() -> None:
    body = recorded("0046_v1_traces.bin")

    async def test(decoder: OtlpDecoder) -> None:
        await decoder.map("traces", "protobuf", body, RECEIVED_MS)
        pid = decoder.health()["pid"]
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGSTOP)  # held: the requests below wait in it
        waiting = [asyncio.ensure_future(decoder.map("traces", "protobuf", body, RECEIVED_MS)) for _ in range(3)]
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        for request in waiting:
            with pytest.raises(DecoderUnavailable):
                await request
        again = await decoder.map("traces", "protobuf", body, RECEIVED_MS)
        assert as_plain(again) == as_plain(in_process("traces", "protobuf", body))
        assert decoder.starts == 2
        assert decoder.health()["pid"] != pid

    with_decoder(test)


def test_stop_ends_the_child() -> None:
    async def test(decoder: OtlpDecoder) -> int | None:
        await decoder.map("traces", "json", b"{}", RECEIVED_MS)
        assert decoder.exit_code is None  # running
        await decoder.stop()
        return decoder.exit_code

    assert with_decoder(test) == 0


def test_sigint_and_sigterm_are_left_to_the_daemon() -> None:
    async def test(decoder: OtlpDecoder) -> None:
        await decoder.map("traces", "json", b"{}", RECEIVED_MS)
        pid = decoder.health()["pid"]
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        assert (await decoder.map("traces", "json", b"{}", RECEIVED_MS)).envelopes == []
        assert decoder.starts == 1

    with_decoder(test)


def test_a_child_that_cannot_start_is_said_so(tmp_path: Any) -> None:
    broken = tmp_path / "prices.json"
    broken.write_text("not json")

    async def test() -> None:
        decoder = OtlpDecoder(MAX_TEXT_BYTES, str(broken))
        with pytest.raises(DecoderUnavailable, match="at its start"):
            await decoder.map("traces", "json", b"{}", RECEIVED_MS)
        assert decoder.health() == {"running": False, "pid": None, "starts": 0}

    asyncio.run(test())


def test_stop_during_the_start_waits_for_it_and_ends_the_child() -> None:
    async def test() -> int | None:
        decoder = OtlpDecoder(MAX_TEXT_BYTES, None)
        decoder.start_soon()
        assert not decoder.running and decoder.starts == 0  # asked to start, not ready yet
        await decoder.stop()
        assert decoder.starts == 1 and not decoder.running
        return decoder.exit_code

    assert asyncio.run(test()) == 0
