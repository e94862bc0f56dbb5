"""OpenClaw's command line as setup drives it, against a scripted stand-in: what is read of each answer, failures."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from openclaw_trace.setup.openclaw_cli import OpenClawCli, OpenClawError, PluginState, child_env, find_openclaw
from tests.setup.fake_openclaw import FakeOpenClaw


@pytest.fixture
def fake(tmp_path: Path) -> FakeOpenClaw:
    return FakeOpenClaw(tmp_path / "bin")


def cli(fake: FakeOpenClaw) -> OpenClawCli:
    return OpenClawCli(fake.command, {"PATH": os.environ.get("PATH", ""), "OPENCLAW_STATE_DIR": "/srv/oc"})


def test_the_version_is_read_from_its_first_words(fake: FakeOpenClaw) -> None:
    assert cli(fake).version() == "2026.9.6"
    fake.answer(["--version"], "openclaw, a build from source\n")
    with pytest.raises(OpenClawError, match="cannot tell the OpenClaw version from 'openclaw, a build"):
        cli(fake).version()


@pytest.mark.parametrize(
    "listing",
    [
        {"plugins": [{"id": "other"}, {"id": "openclaw-trace", "enabled": True, "rootDir": "/opt/plugin"}]},
        [{"id": "openclaw-trace", "enabled": True, "rootDir": "/opt/plugin"}],  # a bare list, as older releases
    ],
)
def test_a_plugin_is_found_in_either_form_of_the_list(fake: FakeOpenClaw, listing: object) -> None:
    fake.answer(["plugins", "list", "--json"], listing)
    assert cli(fake).plugin("openclaw-trace") == PluginState(True, True, "/opt/plugin")
    assert cli(fake).plugin("diagnostics-otel") == PluginState(False, False, None)


def test_the_install_takes_the_flags_this_release_needs_without_a_terminal(fake: FakeOpenClaw) -> None:
    fake.answer(["plugins", "install", "--help"], "Usage: openclaw plugins install [--link] [--force]\n")
    assert cli(fake).install_args(Path("/opt/plugin")) == ["plugins", "install", "--link", "/opt/plugin"]
    fake.answer(["plugins", "install", "--help"], "  --accept-capabilities  grant what it asks for\n")
    assert cli(fake).install_args(Path("/opt/plugin"))[-2:] == ["--accept-capabilities", "--force"]


def test_an_unset_config_path_reads_as_none(fake: FakeOpenClaw) -> None:
    fake.answer(["config", "get", "plugins.entries.openclaw-trace"], {"enabled": True, "config": {"token": "__x__"}})
    fake.answer(["config", "get", "diagnostics.otel"], {"ok": False, "error": "path not found"})
    fake.answer(["config", "get", "gone"], "", code=1)
    assert cli(fake).config_get("plugins.entries.openclaw-trace") == {"enabled": True, "config": {"token": "__x__"}}
    assert cli(fake).config_get("diagnostics.otel") is None
    assert cli(fake).config_get("gone") is None


def test_a_patch_goes_on_stdin_and_a_refused_dry_run_says_why(fake: FakeOpenClaw) -> None:
    patch = {"plugins": {"entries": {"openclaw-trace": {"enabled": True}}}}
    fake.answer(["config", "patch", "--stdin"], "ok\n")
    cli(fake).config_patch(patch)
    assert (fake.calls()[-1]["args"], fake.calls()[-1]["stdin"]) == (["config", "patch", "--stdin"], json.dumps(patch))
    fake.answer(["config", "patch", "--stdin", "--dry-run"], {"ok": False, "errors": [{"path": "plugins"}]})
    with pytest.raises(OpenClawError, match=r'OpenClaw refuses the change: \[\{"path": "plugins"\}\]'):
        cli(fake).config_patch(patch, dry_run=True)
    fake.answer(["config", "patch", "--stdin", "--dry-run"], {"ok": True})
    cli(fake).config_patch(patch, dry_run=True)


def test_the_log_file_is_named_by_the_gateways_status_or_not_at_all(fake: FakeOpenClaw) -> None:
    fake.answer(["gateway", "status"], {"service": "running", "logFile": "~/.openclaw/logs/gateway-{date}.log"})
    assert cli(fake).log_file() == "~/.openclaw/logs/gateway-{date}.log"
    fake.answer(["gateway", "status"], {"logFile": None})
    assert cli(fake).log_file() is None
    fake.answer(["gateway", "status"], "", code=1)
    assert cli(fake).log_file() is None


def test_a_command_that_fails_is_one_line_with_its_reason(fake: FakeOpenClaw) -> None:
    fake.answer(
        ["plugins", "enable"],
        "Validating…\n",
        code=1,
        stderr="[openclaw] Config invalid.\n[openclaw] Reason: plugins.entries.x: unknown plugin\n  at check()\n",
    )
    with pytest.raises(OpenClawError) as failed:
        cli(fake).run(["plugins", "enable", "x"])
    assert str(failed.value) == "`openclaw plugins enable` failed: Reason: plugins.entries.x: unknown plugin"
    fake.answer(["plugins", "enable"], "", code=3)
    with pytest.raises(OpenClawError, match=r"failed: no output$"):
        cli(fake).run(["plugins", "enable", "x"])


def test_output_that_is_not_json_where_json_was_asked_for_is_said_so(fake: FakeOpenClaw) -> None:
    fake.answer(["plugins", "list", "--json"], "{this is not json")
    with pytest.raises(OpenClawError, match="`openclaw plugins list` printed something that is not JSON"):
        cli(fake).plugin("openclaw-trace")


def test_each_command_runs_silent_with_the_gateways_settings(fake: FakeOpenClaw) -> None:
    cli(fake).version()
    env = fake.calls()[-1]["env"]
    assert env["OPENCLAW_LOG_LEVEL"] == "silent"  # its messages stay out of the log our tailer reads
    assert env["OPENCLAW_STATE_DIR"] == "/srv/oc"


def test_the_environment_names_the_chosen_gateway_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENCLAW_STATE_DIR", raising=False)
    monkeypatch.delenv("OPENCLAW_CONFIG_PATH", raising=False)
    assert {"OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH"}.isdisjoint(child_env(None, None))
    env = child_env("/srv/state", "/etc/oc.json")
    assert (env["OPENCLAW_STATE_DIR"], env["OPENCLAW_CONFIG_PATH"]) == ("/srv/state", "/etc/oc.json")
    assert env["PATH"] == os.environ["PATH"]


def test_the_command_is_the_one_named_or_the_one_on_path(
    fake: FakeOpenClaw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_openclaw(fake.command) == fake.command
    with pytest.raises(OpenClawError, match="no executable '/nowhere/openclaw'; install OpenClaw first"):
        find_openclaw("/nowhere/openclaw")
    monkeypatch.setenv("PATH", str(fake.folder))
    assert find_openclaw(None) == fake.command
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(OpenClawError, match="no `openclaw` command on PATH"):
        find_openclaw(None)


def test_a_command_that_cannot_run_is_said_so(tmp_path: Path) -> None:
    not_executable = tmp_path / "openclaw"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(OpenClawError, match=re.escape(f"cannot run {not_executable}: Permission denied")):
        OpenClawCli(str(not_executable), {}).run(["--version"])
