"""setup openclaw's answers when OpenClaw is missing, too old, or its state unreadable: one line, no traceback.

The real command is run against real gateways by make test-openclaw; here a
small script stands in for ``openclaw`` to reach the failure paths quickly.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from openclaw_trace.cli import main


def fake_openclaw(folder: Path, version: str) -> Path:
    script = folder / "openclaw"
    script.write_text(
        f"#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'OpenClaw {version} (abc123)'; exit 0; fi\nexit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["setup", "openclaw", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_no_openclaw_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = run(capsys, "--yes", "--openclaw", str(tmp_path / "nowhere"))
    assert code == 1
    assert "no executable" in said and "Traceback" not in said
    assert len(said.strip().splitlines()) == 1


def test_an_openclaw_older_than_the_plugin_supports_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = run(capsys, "--yes", "--openclaw", str(fake_openclaw(tmp_path, "2026.4.29")))
    assert code == 1
    assert "OpenClaw 2026.4.29 is older than 2026.7.1" in said


def test_undo_without_a_setup_and_with_a_damaged_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = str(fake_openclaw(tmp_path, "2026.9.6"))
    state = tmp_path / "state"
    state.mkdir()
    code, said = run(capsys, "--undo", "--openclaw", command, "--state-dir", str(state))
    assert code == 1 and "nothing to undo" in said
    (state / "openclaw-trace-setup.json").write_text("{not json")
    code, said = run(capsys, "--undo", "--openclaw", command, "--state-dir", str(state))
    assert code == 1 and "cannot read" in said and "Traceback" not in said


def test_a_failing_openclaw_command_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --version works, everything else exits 1 (as a broken install would).
    code, said = run(capsys, "--yes", "--openclaw", str(fake_openclaw(tmp_path, "2026.9.6")), "--state-dir",
                     str(tmp_path))  # fmt: skip
    assert code == 1
    assert said.strip().splitlines()[-1].startswith("openclaw-trace: `openclaw plugins list` failed")
    assert "Traceback" not in said
    assert os.environ.get("OPENCLAW_STATE_DIR") != str(tmp_path), "the setting went to the child only"


@pytest.mark.parametrize("endpoint", ["http://user:s3cret@127.0.0.1:9090", "ftp://127.0.0.1:9090"])
def test_an_endpoint_the_plugin_would_refuse_is_refused_first(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = str(fake_openclaw(tmp_path, "2026.7.1"))
    code, said = run(capsys, "--yes", "--endpoint", endpoint, "--openclaw", command)
    assert code == 2
    assert "without a user or password" in said and "s3cret" not in said
