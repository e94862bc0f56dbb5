"""Reading complete lines from one open log file (a real file in tmp_path)."""

from __future__ import annotations

from pathlib import Path

from openclaw_trace.collectors.logs.open_file import OpenFile, starts_with
from openclaw_trace.collectors.logs.trust import Trust


def open_file(path: Path, offset: int = 0, max_line_bytes: int = 1024) -> OpenFile:
    opened = OpenFile.open(str(path), offset, max_line_bytes, Trust())
    assert opened is not None
    return opened


def test_complete_lines_with_their_end_offsets_and_a_partial_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\r\nthr")
    follower = open_file(log)
    try:
        lines = follower.read_lines(10)
        assert [(line.text, line.end_offset, line.truncated) for line in lines] == [
            ("one", 4, False),
            ("two", 9, False),  # the CR of a CRLF line is dropped
        ]
        assert follower.pending
        with log.open("ab") as out:
            out.write(b"ee\n")
        assert [line.text for line in follower.read_lines(10)] == ["three"]
        assert not follower.pending
    finally:
        follower.close()


def test_an_unterminated_last_line_is_handed_out_only_when_final(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"done\nlast")
    follower = open_file(log)
    try:
        assert [line.text for line in follower.read_lines(10)] == ["done"]
        assert [line.text for line in follower.read_lines(10, final=True)] == ["last"]
    finally:
        follower.close()


def test_an_over_long_line_keeps_its_start_and_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 50 + b"\n" + b"bad \xff byte\n")
    follower = open_file(log, max_line_bytes=16)
    try:
        long_line, bad = follower.read_lines(10)
        assert (long_line.text, long_line.truncated, long_line.end_offset) == ("x" * 16, True, 51)
        assert bad.text == "bad \ufffd byte"
    finally:
        follower.close()


def test_a_file_truncated_below_what_was_read_is_noticed(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"first line\nsecond line\n")
    follower = open_file(log)
    try:
        assert len(follower.read_lines(10)) == 2
        assert not follower.truncated()
        log.write_bytes(b"new\n")  # copy-and-truncate, then a new line
        assert follower.truncated()
        follower.restart_at_zero()
        assert [line.text for line in follower.read_lines(10)] == ["new"]
    finally:
        follower.close()


def test_helpers_for_picking_files(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"header line\nmore\n")
    assert Trust().checked_stat(str(log)) is not None
    assert Trust().checked_stat(str(tmp_path)) is None  # a directory is not followed
    assert Trust().checked_stat(str(tmp_path / "missing.log")) is None
    assert starts_with(str(log), b"header line\n") is True
    assert starts_with(str(log), b"other\n") is False
    assert starts_with(str(log), b"header line\nmore\nand what is not written yet\n") is None
    assert OpenFile.open(str(tmp_path / "missing.log"), 0, 1024, Trust()) is None
