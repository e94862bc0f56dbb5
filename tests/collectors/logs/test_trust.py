"""The tailer reads only files no other local user could have planted (real files, dirs, links, FIFOs)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from openclaw_trace.collectors.logs.tail import FileFollower
from openclaw_trace.collectors.logs.trust import Trust

NOBODY = 65534  # a uid that is neither ours nor root's
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def lines_of(follower: FileFollower) -> list[str]:
    texts: list[str] = []
    while (batch := follower.read(100)) is not None:
        if not batch.lines:
            continue
        texts += [line.text for line in batch.lines]
    return texts


def gateway_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "openclaw"
    directory.mkdir(mode=0o755)
    return directory


def test_a_file_of_our_own_in_a_directory_of_our_own_is_read(tmp_path: Path) -> None:
    log = gateway_dir(tmp_path) / "openclaw-2026-12-08.log"
    log.write_text("one\ntwo\n")
    assert lines_of(FileFollower(str(log.parent), None)) == ["one", "two"]


def test_a_symlink_is_not_followed_and_the_refusal_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "only-the-daemon-may-read"
    secret.write_text("private key\n")
    link = gateway_dir(tmp_path) / "openclaw-2026-12-08.log"
    link.symlink_to(secret)
    follower = FileFollower(str(link.parent), None)
    with caplog.at_level(logging.WARNING, logger="openclaw_trace.tailer"):
        for _ in range(3):  # three polls
            assert lines_of(follower) == []
    assert follower.trust.refused == {str(link): "not a regular file (a symlink)"}
    assert [r.getMessage() for r in caplog.records] == [f"not reading {link}: not a regular file (a symlink)"]
    # Named directly, too: opened with O_NOFOLLOW.
    assert lines_of(FileFollower(str(link), None)) == []


def test_a_file_anyone_may_write_is_refused(tmp_path: Path) -> None:
    log = gateway_dir(tmp_path) / "openclaw-2026-12-08.log"
    log.write_text("forged\n")
    log.chmod(0o666)
    follower = FileFollower(str(log), None)
    assert lines_of(follower) == []
    assert follower.trust.refused[str(log)] == "writable by any user"


def test_a_directory_anyone_may_write_is_refused_unless_sticky_like_tmp(tmp_path: Path) -> None:
    directory = gateway_dir(tmp_path)
    log = directory / "openclaw-2026-12-08.log"
    log.write_text("line\n")
    directory.chmod(0o777)
    follower = FileFollower(str(directory), None)
    assert lines_of(follower) == []
    assert follower.trust.refused[str(log)] == f"directory {directory} is writable by any user"
    directory.chmod(0o1777)  # others may add files but not replace ours
    assert lines_of(FileFollower(str(directory), None)) == ["line"]


def test_a_fifo_does_not_block_the_tailer(tmp_path: Path) -> None:
    fifo = gateway_dir(tmp_path) / "openclaw-2026-12-08.log"
    os.mkfifo(fifo)
    follower = FileFollower(str(fifo), None)
    assert lines_of(follower) == []  # returns: an open of a FIFO would wait for a writer
    assert follower.trust.refused[str(fifo)] == "not a regular file"


@as_root
def test_another_users_file_or_directory_is_refused_unless_trusted(tmp_path: Path) -> None:
    directory = gateway_dir(tmp_path)
    log = directory / "openclaw-2026-12-08.log"
    log.write_text("from the gateway\n")
    os.chown(log, NOBODY, NOBODY)
    follower = FileFollower(str(directory), None)
    assert lines_of(follower) == []
    assert "not a trusted user (see OCT_LOG_OWNER)" in follower.trust.refused[str(log)]
    # The gateway runs as that user: OCT_LOG_OWNER trusts it.
    assert lines_of(FileFollower(str(directory), None, trust=Trust([NOBODY]))) == ["from the gateway"]
    os.chown(log, 0, 0)
    os.chown(directory, NOBODY, NOBODY)  # a directory another user made first, as in /tmp/openclaw
    follower = FileFollower(str(directory), None)
    assert lines_of(follower) == []
    assert f"directory {directory} is owned by" in follower.trust.refused[str(log)]


@as_root
def test_a_directory_symlink_planted_by_another_user_is_refused(tmp_path: Path) -> None:
    real = gateway_dir(tmp_path)
    (real / "openclaw-2026-12-08.log").write_text("ours\n")
    planted = tmp_path / "planted"
    planted.symlink_to(real)
    os.lchown(planted, NOBODY, NOBODY)
    follower = FileFollower(str(planted), None)
    assert lines_of(follower) == []
    assert "is a symlink owned by" in (follower.trust.last_refused or "")
