"""What setup openclaw would run, and what --undo runs, for the states a gateway can be in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclaw_trace.setup.openclaw_cli import PluginState
from openclaw_trace.setup.plan import Choices, SetupRecord, setup_plan, undo_plan

PLUGIN_DIR = Path("/opt/oct/openclaw_plugin")
INSTALL = ["plugins", "install", "--link", str(PLUGIN_DIR), "--accept-capabilities", "--force"]
ABSENT = PluginState(False, False, None)
CHOICES = Choices(endpoint="http://127.0.0.1:9090", token="", capture_text=True, otlp_metrics=False)


def test_a_fresh_gateway_gets_install_enable_and_one_config_patch() -> None:
    steps = setup_plan(CHOICES, PLUGIN_DIR, ABSENT, INSTALL, ABSENT)
    assert [step.args for step in steps] == [
        INSTALL,
        ["plugins", "enable", "openclaw-trace"],
        ["config", "patch", "--stdin"],
    ]
    assert steps[2].patch == {
        "plugins": {
            "entries": {
                "openclaw-trace": {
                    "enabled": True,
                    "hooks": {"allowConversationAccess": True},
                    "config": {"endpoint": "http://127.0.0.1:9090", "captureText": True},
                }
            }
        }
    }


def test_a_plugin_linked_here_already_is_not_installed_again_but_still_enabled() -> None:
    steps = setup_plan(CHOICES, PLUGIN_DIR, PluginState(True, False, str(PLUGIN_DIR)), INSTALL, ABSENT)
    assert [step.args[:2] for step in steps] == [["plugins", "enable"], ["config", "patch"]]
    elsewhere = setup_plan(CHOICES, PLUGIN_DIR, PluginState(True, True, "/src/checkout/openclaw"), INSTALL, ABSENT)
    assert elsewhere[0].args == INSTALL


def test_no_text_keeps_the_conversation_from_the_plugin_and_a_token_is_never_shown() -> None:
    choices = Choices(endpoint="http://127.0.0.1:9090", token="s3cret-token", capture_text=False, otlp_metrics=False)
    patch_step = setup_plan(choices, PLUGIN_DIR, ABSENT, INSTALL, ABSENT)[-1]
    assert patch_step.patch is not None
    entry = patch_step.patch["plugins"]["entries"]["openclaw-trace"]
    assert entry["hooks"] == {"allowConversationAccess": False}
    assert entry["config"] == {"endpoint": "http://127.0.0.1:9090", "captureText": False, "token": "s3cret-token"}
    assert "s3cret-token" not in patch_step.shown()
    assert '"token":"***"' in patch_step.shown()


@pytest.mark.parametrize("exporter_enabled", [False, True])
def test_otlp_turns_the_exporter_on_for_metrics_only(exporter_enabled: bool) -> None:
    choices = Choices(endpoint="http://127.0.0.1:9090", token="", capture_text=True, otlp_metrics=True)
    exporter = PluginState(True, exporter_enabled, "/x")
    steps = setup_plan(choices, PLUGIN_DIR, ABSENT, INSTALL, exporter)
    patch = next(step.patch for step in steps if step.patch)
    assert patch["diagnostics"]["otel"] == {
        "enabled": True,
        "endpoint": "http://127.0.0.1:9090",
        "protocol": "http/protobuf",
        "traces": False,  # the plugin records each model call: no second copy
        "metrics": True,
        "logs": False,
    }
    enables = [step.args for step in steps if step.args[:2] == ["plugins", "enable"]]
    assert (["plugins", "enable", "diagnostics-otel"] in enables) is not exporter_enabled


def test_undo_uninstalls_only_what_setup_installed_and_restores_what_it_changed() -> None:
    before = {"enabled": True, "config": {"endpoint": "http://10.0.0.5:9090", "token": "__OPENCLAW_REDACTED__"}}
    record = SetupRecord(
        plugin_dir=str(PLUGIN_DIR),
        installed_plugin=False,
        entry_before=before,
        otel_changed=True,
        otel_before=None,
        otel_plugin_enabled=True,
    )
    steps = undo_plan(SetupRecord.from_json(record.to_json()), PluginState(True, True, str(PLUGIN_DIR)))
    assert [step.args for step in steps] == [
        ["config", "patch", "--stdin"],
        ["plugins", "disable", "diagnostics-otel"],
    ]
    assert steps[0].patch == {"plugins": {"entries": {"openclaw-trace": before}}, "diagnostics": {"otel": None}}
    fresh = SetupRecord(plugin_dir=str(PLUGIN_DIR), installed_plugin=True, entry_before=None)
    steps = undo_plan(fresh, PluginState(True, True, str(PLUGIN_DIR)))
    assert steps[0].args == ["plugins", "uninstall", "openclaw-trace", "--force"]
    assert steps[1].patch == {"plugins": {"entries": {"openclaw-trace": None}}}
    assert undo_plan(fresh, ABSENT)[0].args[:2] == ["config", "patch"]


def test_a_record_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a setup record"):
        SetupRecord.from_json(json.dumps({"version": 99}))
