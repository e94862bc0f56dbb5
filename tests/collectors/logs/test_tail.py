"""FileFollower on real files: complete lines only, long lines, encodings, rotation, truncation, resume."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openclaw_trace.collectors.logs import tail
from openclaw_trace.collectors.logs.tail import Batch, FileFollower, Position


def read_all(follower: FileFollower, max_lines: int = 1000, polls: int = 20) -> list[str]:
    """Read until nothing more comes for a few polls (one file switch may need two)."""
    texts: list[str] = []
    idle = 0
    while idle < polls:
        batch = follower.read(max_lines)
        if batch is None:
            idle += 1
            continue
        idle = 0
        texts.extend(line.text for line in batch.lines)
    return texts


def append(path: Path, data: bytes | str) -> None:
    with path.open("ab") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def bump_mtime(path: Path, seconds: int = 5) -> None:
    """Make ``path`` clearly newer than files written a moment ago (coarse file-system clocks)."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + seconds * 1_000_000_000))


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_bytes(b"one\ntw")
    follower = FileFollower(str(log), None)
    batch = follower.read(100)
    assert batch is not None
    assert [line.text for line in batch.lines] == ["one"]
    assert batch.position.offset == 4
    assert follower.read(100) is None
    append(log, "o\nthree")
    batch = follower.read(100)
    assert batch is not None and [line.text for line in batch.lines] == ["two"]
    assert batch.lines[-1].end_offset == 8


def test_a_one_megabyte_line_is_cut_and_the_next_line_is_whole(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_bytes(b"x" * 1_000_000)  # no newline yet: held, bounded
    follower = FileFollower(str(log), None, max_line_bytes=64 * 1024)
    assert follower.read(100) is None
    append(log, b"y" * 50_000 + b"\nafter\n")
    texts = read_all(follower)
    assert texts == ["x" * 64 * 1024, "after"]
    position = follower.position()
    assert position is not None and position.offset == 1_050_001 + 6


def test_invalid_utf8_is_replaced_and_crlf_dropped(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_bytes(b"caf\xc3\xa9\r\nbad \xff\xfe byte\r\n\r\nlast\n")
    texts = read_all(FileFollower(str(log), None))
    assert texts == ["café", "bad \ufffd\ufffd byte", "", "last"]


def test_empty_file_and_a_file_that_appears_later(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    follower = FileFollower(str(log), None)
    assert follower.read(100) is None  # missing: nothing, no error
    log.write_bytes(b"")
    assert follower.read(100) is None  # empty
    append(log, "first\n")
    assert read_all(follower) == ["first"]


def test_rotation_by_rename_finishes_the_old_file_then_reads_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_text("a1\na2\n")
    follower = FileFollower(str(log), None)
    assert read_all(follower) == ["a1", "a2"]
    append(log, "a3\na4-partial")  # written before the rename, not yet read
    log.rename(tmp_path / "gw.log.1")
    append(tmp_path / "gw.log.1", "-done\n")  # the writer finishes its line on the old descriptor
    log.write_text("b1\n")
    bump_mtime(log)
    assert read_all(follower) == ["a3", "a4-partial-done", "b1"]
    assert follower.rotations == 1


def test_copy_and_truncate_loses_nothing_written_before_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_text("l1 head line\nl2\n")
    follower = FileFollower(str(log), None)
    assert read_all(follower) == ["l1 head line", "l2"]
    append(log, "l3\n")  # not yet read when the copy is taken
    shutil.copyfile(log, tmp_path / "gw.log.1")
    bump_mtime(tmp_path / "gw.log.1")  # the copy even looks newer: it must not be followed as a new file
    with log.open("r+b") as handle:
        handle.truncate(0)
    assert read_all(follower) == ["l3"]
    assert follower.truncations == 1
    append(log, "n1\n")
    assert read_all(follower) == ["n1"]


def test_a_new_dated_file_is_taken_after_the_old_one_is_finished(tmp_path: Path) -> None:
    day1 = tmp_path / "openclaw-2026-11-22.log"
    day1.write_text("d1-1\n")
    follower = FileFollower(str(tmp_path), None)
    assert read_all(follower) == ["d1-1"]
    append(day1, "d1-2\n")
    day2 = tmp_path / "openclaw-2026-11-23.log"
    day2.write_text("d2-1\n")
    bump_mtime(day2)
    rotated = tmp_path / "openclaw-2026-11-23.1.log"
    assert read_all(follower) == ["d1-2", "d2-1"]
    rotated.write_text("d2r-1\n")
    bump_mtime(rotated, 10)
    assert read_all(follower) == ["d2r-1"]
    assert follower.rotations == 2


def test_resume_from_a_stored_position_even_after_a_rename(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_text("r1\nr2\nr3\n")
    follower = FileFollower(str(log), None)
    batch = follower.read(2)
    assert isinstance(batch, Batch) and [line.text for line in batch.lines] == ["r1", "r2"]
    stored = Position(batch.position.file_path, batch.position.device, batch.position.inode, 6, 0)
    follower.close()
    log.rename(tmp_path / "gw.log.1")
    log.write_text("s1\n")
    bump_mtime(log)
    assert read_all(FileFollower(str(log), stored)) == ["r3", "s1"]


def test_a_position_not_on_a_line_boundary_starts_the_file_over(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_text("abc\ndef\n")
    info = log.stat()
    stored = Position(str(log), info.st_dev, info.st_ino, 2, 0)  # e.g. an inode reused by another file
    assert read_all(FileFollower(str(log), stored)) == ["abc", "def"]


def test_auto_matches_only_the_gateways_dated_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("openclaw-2026-11-22.log", "openclaw-2026-11-22.1.log", "openclaw-work-2026-11-22.log", "x.log"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(tail, "AUTO_GLOB", str(tmp_path / "openclaw-*.log"))
    followable, _ = tail.candidates("auto")
    assert sorted(os.path.basename(p) for p in followable) == ["openclaw-2026-11-22.1.log", "openclaw-2026-11-22.log"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40),
        max_size=30,
    ),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=10),
)
def test_lines_written_in_any_pieces_come_out_whole_and_once(lines: list[str], cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "gw.log"
        log.write_bytes(b"")
        follower = FileFollower(str(log), None)
        data = "".join(line + "\n" for line in lines).encode()
        seen: list[str] = []
        position, step = 0, 0
        while position < len(data):
            size = cuts[step % len(cuts)]
            append(log, data[position : position + size])
            position, step = position + size, step + 1
            batch = follower.read(7)
            if batch is not None:
                seen.extend(line.text for line in batch.lines)
        seen.extend(read_all(follower, polls=2))
        follower.close()
        assert seen == lines
