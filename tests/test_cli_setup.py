"""``setup openclaw`` with a scripted stand-in for ``openclaw``: what it changes, what it prints, how it undoes it,
and its answers when OpenClaw is missing, too old, or its state unreadable: one line, no traceback.

The real command is run against real gateways by make test-openclaw.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.cli import main
from openclaw_trace.cli_setup import config_path, plugin_directory
from tests.setup.fake_openclaw import FakeOpenClaw


def fake_openclaw(folder: Path, version: str) -> str:
    """An ``openclaw`` that knows its version and fails every other command (as a broken install would)."""
    return FakeOpenClaw(folder / "broken", version).command


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
    code, said = run(capsys, "--yes", "--openclaw", fake_openclaw(tmp_path, "2026.4.29"))
    assert code == 1
    assert "OpenClaw 2026.4.29 is older than 2026.7.1" in said


def test_undo_without_a_setup_and_with_a_damaged_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = fake_openclaw(tmp_path, "2026.9.6")
    state = tmp_path / "state"
    state.mkdir()
    code, said = run(capsys, "--undo", "--openclaw", command, "--state-dir", str(state))
    assert code == 1 and "nothing to undo" in said
    (state / "openclaw-trace-setup.json").write_text("{not json")
    code, said = run(capsys, "--undo", "--openclaw", command, "--state-dir", str(state))
    assert code == 1 and "cannot read" in said and "Traceback" not in said


def test_a_failing_openclaw_command_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --version works, everything else exits 1 (as a broken install would).
    code, said = run(capsys, "--yes", "--openclaw", fake_openclaw(tmp_path, "2026.9.6"), "--state-dir",
                     str(tmp_path))  # fmt: skip
    assert code == 1
    assert said.strip().splitlines()[-1].startswith("openclaw-trace: `openclaw plugins list` failed")
    assert "Traceback" not in said
    assert os.environ.get("OPENCLAW_STATE_DIR") != str(tmp_path), "the setting went to the child only"


@pytest.mark.parametrize("endpoint", ["http://user:s3cret@127.0.0.1:9090", "ftp://127.0.0.1:9090"])
def test_an_endpoint_the_plugin_would_refuse_is_refused_first(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = fake_openclaw(tmp_path, "2026.7.1")
    code, said = run(capsys, "--yes", "--endpoint", endpoint, "--openclaw", command)
    assert code == 2
    assert "without a user or password" in said and "s3cret" not in said


def test_the_config_is_found_as_openclaw_finds_it(tmp_path: Path) -> None:
    assert config_path({"OPENCLAW_CONFIG_PATH": "/etc/oc.json", "OPENCLAW_STATE_DIR": "/s"}) == Path("/etc/oc.json")
    assert config_path({"OPENCLAW_STATE_DIR": "/srv/state"}) == Path("/srv/state/openclaw.json")
    assert config_path({"HOME": str(tmp_path)}) == tmp_path / ".openclaw" / "openclaw.json"


PLUGIN = "openclaw-trace"
CHANGES = (["plugins", "install"], ["plugins", "enable"])


def changes(fake: FakeOpenClaw) -> list[list[str]]:
    """The commands that install or enable a plugin, in order."""
    return [args for args in fake.commands() if args[:2] in CHANGES and "--help" not in args]


def fresh_gateway(tmp_path: Path) -> FakeOpenClaw:
    """An ``openclaw`` of a gateway without our plugin, that accepts every change."""
    fake = FakeOpenClaw(tmp_path / "bin")
    fake.answer(["plugins", "list", "--json"], {"plugins": [{"id": "telegram", "enabled": True}]})
    fake.answer(["plugins", "install", "--help"], "  --accept-capabilities  grant what the plugin asks for\n")
    fake.answer(["plugins", "install"], "Installed.\n")
    fake.answer(["plugins", "enable"], "Enabled.\n")
    fake.answer(["plugins", "uninstall"], "Uninstalled.\n")
    fake.answer(["config", "get"], "", code=1)  # unset
    fake.answer(["config", "patch", "--stdin"], "Updated.\n")
    fake.answer(["config", "patch", "--stdin", "--dry-run"], {"ok": True})
    fake.answer(["gateway", "status"], {"logFile": "/var/log/openclaw/gateway.log"})
    return fake


def patches(fake: FakeOpenClaw) -> list[dict[str, Any]]:
    return [json.loads(call["stdin"]) for call in fake.calls() if call["args"][:2] == ["config", "patch"]]


def test_setup_wires_the_plugin_to_the_daemon_and_undo_takes_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCT_INGEST_TOKEN", "s3cret-ingest-token")
    fake = fresh_gateway(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    where = ["--openclaw", fake.command, "--state-dir", str(state)]
    code, said = run(capsys, "--yes", "--endpoint", "http://127.0.0.1:9999/", *where)
    assert code == 0, said
    assert changes(fake) == [
        ["plugins", "install", "--link", str(plugin_directory()), "--accept-capabilities", "--force"],
        ["plugins", "enable", PLUGIN],
    ]
    [patch] = patches(fake)
    plugin_config = {"endpoint": "http://127.0.0.1:9999", "captureText": True, "token": "s3cret-ingest-token"}
    entry = {"enabled": True, "hooks": {"allowConversationAccess": True}, "config": plugin_config}
    assert patch == {"plugins": {"entries": {PLUGIN: entry}}}
    assert "s3cret-ingest-token" not in said  # the plan shows the token as ***
    assert "OCT_LOG_PATH=/var/log/openclaw" in said
    record = json.loads((state / "openclaw-trace-setup.json").read_text())
    assert (record["installed_plugin"], record["entry_before"]) == (True, None)
    assert all(call["env"]["OPENCLAW_STATE_DIR"] == str(state) for call in fake.calls())

    fake.answer(["plugins", "list", "--json"], [{"id": PLUGIN, "enabled": True, "rootDir": str(plugin_directory())}])
    code, said = run(capsys, "--undo", *where)
    assert code == 0, said
    assert ["plugins", "uninstall", PLUGIN, "--force"] in fake.commands()
    assert patches(fake)[-1] == {"plugins": {"entries": {PLUGIN: None}}}  # as it was: absent
    assert not (state / "openclaw-trace-setup.json").exists()


def test_a_dry_run_has_openclaw_check_the_change_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = fresh_gateway(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    code, said = run(capsys, "--dry-run", "--no-text", "--openclaw", fake.command, "--state-dir", str(state))
    assert code == 0, said
    assert "dry run: OpenClaw accepts these settings; nothing was changed." in said
    assert [args for args in fake.commands() if args[:2] == ["config", "patch"]] == [
        ["config", "patch", "--stdin", "--dry-run", "--json"]
    ]
    assert changes(fake) == []
    [patch] = patches(fake)
    assert patch["plugins"]["entries"][PLUGIN]["config"]["captureText"] is False
    assert list(state.iterdir()) == []  # no record: nothing to undo


def test_a_change_openclaw_refuses_in_the_dry_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = fresh_gateway(tmp_path)
    fake.answer(["config", "patch", "--stdin", "--dry-run"], {"ok": False, "errors": ["plugins.entries: unknown"]})
    code, said = run(capsys, "--dry-run", "--openclaw", fake.command, "--state-dir", str(tmp_path))
    assert code == 1
    assert said.strip().splitlines()[-1] == (
        'openclaw-trace: OpenClaw refuses the change: ["plugins.entries: unknown"]'
    )
