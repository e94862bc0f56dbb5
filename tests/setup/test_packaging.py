"""The OpenClaw plugin ships inside the Python package: setup needs no source checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from openclaw_trace.cli_setup import plugin_directory

REPO = Path(__file__).resolve().parents[2]


def test_the_installed_package_holds_the_plugin() -> None:
    folder = plugin_directory()
    manifest = json.loads((folder / "openclaw.plugin.json").read_text())
    assert manifest["id"] == "openclaw-trace"
    assert (folder / "index.js").is_file()


@pytest.mark.slow
def test_the_wheel_carries_the_plugin_without_its_tests(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("openclaw_trace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    plugin = {name for name in names if name.startswith("openclaw_trace/openclaw_plugin/")}
    source = {f"openclaw_trace/openclaw_plugin/src/{p.name}" for p in (REPO / "integrations/openclaw/src").glob("*.js")}
    assert source <= plugin
    for name in ("index.js", "package.json", "openclaw.plugin.json"):
        assert f"openclaw_trace/openclaw_plugin/{name}" in plugin
    assert not [name for name in plugin if "/test/" in name or "/testing/" in name]
