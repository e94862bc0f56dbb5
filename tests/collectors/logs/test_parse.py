"""parse_line on the real gateway log (OpenClaw 2026.9.6) and on hostile text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.collectors.logs.parse import LEVELS, LogLine, parse_line

FIXTURE = Path(__file__).parents[2] / "fixtures" / "gateway-log" / "openclaw-2026-11-22.v2026.9.6.log"
REAL = FIXTURE.read_text(encoding="utf-8").splitlines()


def real(number: int) -> LogLine:
    """Line ``number`` (1-based, as in an editor) of the recorded log, parsed."""
    return parse_line(REAL[number - 1])


@pytest.mark.parametrize(
    ("number", "level", "subsystem", "message_start"),
    [
        (1, "DEBUG", "state/sqlite", "SQLite read-only snapshot"),
        (64, "INFO", "gateway", "gateway ready"),
        (19, "DEBUG", "openclaw", "Registered plugin command: /pair (plugin: device-pair) verbose"),
        (20, "INFO", "openclaw", "Registered plugin command: /pair"),  # console line: message in "0"
        (60, "DEBUG", "cron", "cron: timer armed"),  # {"module":"cron",…} logger
        (76, "INFO", "gateway/ws", "← open remoteAddr=127.0.0.1"),
        (181, "ERROR", "openclaw", 'Plugin "oct-bridge" requires capability consent'),
        (561, "WARN", "agent/embedded", "transient same-model retry 5/8 for fakellm/fake-model"),
        (670, "ERROR", "diagnostic", "lane task error: lane=main"),
        (683, "ERROR", "openclaw", "[openclaw] The CLI command failed."),
    ],
)
def test_real_lines_level_subsystem_message(number: int, level: str, subsystem: str, message_start: str) -> None:
    line = real(number)
    assert line.structured
    assert line.level == level
    assert line.subsystem == subsystem
    assert line.message.startswith(message_start)


def test_structured_argument_ids_and_time() -> None:
    line = real(673)  # model fallback decision
    assert line.data is not None and line.data["event"] == "model_fallback_decision"
    assert line.data["status"] == 500
    assert line.trace_id == "f3cf5e022b3e3f23339cbe7c26247c33"
    assert line.span_id == "c6856bf654315abe"
    assert line.session_id == "6fa1036b-ee1f-4cba-a226-2b01831fd2dc"
    assert line.run_id == "52b431bb-8743-40be-98f4-cbb35ebd8a32"
    assert line.time_ms == 1795323569625  # 2026-11-22T04:59:29.625Z


def test_text_argument_with_object_in_second_place() -> None:
    line = real(83)  # "1": "slow SQLite session write", "2": {…}
    assert line.message == "slow SQLite session write"
    assert line.data is not None and line.data["operation"] == "session.maintenance.plan"


def test_agent_and_session_ids_from_the_line() -> None:
    line = real(93)
    assert line.agent_id == "main"
    assert line.session_id == "agent:main:main"


def test_every_real_line_parses_as_structured_with_a_level() -> None:
    parsed = [parse_line(text) for text in REAL]
    assert len(parsed) == 689
    assert all(line.structured and line.level in LEVELS and line.message for line in parsed)


@pytest.mark.parametrize(
    ("text", "level", "message"),
    [
        ("2026-11-22T04:54:34Z ERROR something broke", "ERROR", "2026-11-22T04:54:34Z ERROR something broke"),
        ("[WARN] disk almost full", "WARN", "[WARN] disk almost full"),
        ("plain words only", None, "plain words only"),
        ("", None, ""),
        ("{not json", None, "{not json"),
        ("[1, 2, 3]", None, "[1, 2, 3]"),
        ('{"unrelated": true}', None, '{"unrelated": true}'),
    ],
)
def test_plain_text_is_kept_as_text(text: str, level: str | None, message: str) -> None:
    line = parse_line(text)
    assert not line.structured
    assert line.level == level
    assert line.message == message


def test_hostile_json_does_not_raise() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert not parse_line('{"0": ' + deep + ', "_meta": {}}').structured
    assert not parse_line('{"0": ' + "9" * 5000 + ', "_meta": {}}').structured
    surrogate = parse_line('{"0": "bad \\ud800 text", "_meta": {"logLevelName": "ERROR"}}')
    assert surrogate.level == "ERROR"
    surrogate.message.encode("utf-8")  # no lone surrogate left


@given(st.text(max_size=300))
def test_any_text_parses(text: str) -> None:
    line = parse_line(text)
    assert isinstance(line.message, str)


@given(
    st.dictionaries(
        st.sampled_from(["0", "1", "2", "message", "time", "_meta", "traceId", "session_id"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=10,
        ),
    )
)
def test_any_json_object_parses(obj: dict[str, object]) -> None:
    import json

    line = parse_line(json.dumps(obj))
    assert isinstance(line.message, str)
