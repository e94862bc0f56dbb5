"""A stand-in for the ``openclaw`` command: scripted answers per command, every call recorded.

The real command is run against real gateways by ``make test-openclaw``;
this one reaches the answers that are hard to get from a real gateway
(refusals, failures, odd output) quickly.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

_SCRIPT = """#!{python}
import json, os, sys
folder = {folder!r}
args = sys.argv[1:]
env = {{name: value for name, value in os.environ.items() if name.startswith("OPENCLAW_")}}
with open(folder + "/calls.jsonl", "a") as calls:
    calls.write(json.dumps({{"args": args, "stdin": sys.stdin.read(), "env": env}}) + "\\n")
with open(folder + "/answers.json") as answers:
    matching = [a for a in json.load(answers) if args[: len(a["args"])] == a["args"]]
if not matching:
    sys.stderr.write("error: unknown command\\n")
    sys.exit(1)
best = max(matching, key=lambda a: len(a["args"]))
sys.stdout.write(best["stdout"])
sys.stderr.write(best["stderr"])
sys.exit(best["code"])
"""


class FakeOpenClaw:
    """``openclaw`` in ``folder``: answers ``--version`` as ``version``, every other command as told (else exit 1)."""

    def __init__(self, folder: Path, version: str = "2026.9.6") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.command = str(folder / "openclaw")
        script = Path(self.command)
        script.write_text(_SCRIPT.format(python=sys.executable, folder=str(folder)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self._answers: list[dict[str, Any]] = []
        self.answer(["--version"], f"OpenClaw {version} (abc123)\n")

    def answer(self, args: list[str], stdout: Any = "", code: int = 0, stderr: str = "") -> None:
        """Answer commands starting with ``args`` (the longest such prefix wins); ``stdout`` not a str is JSON."""
        text = stdout if isinstance(stdout, str) else json.dumps(stdout)
        self._answers = [a for a in self._answers if a["args"] != args]
        self._answers.append({"args": args, "stdout": text, "code": code, "stderr": stderr})
        (self.folder / "answers.json").write_text(json.dumps(self._answers))

    def calls(self) -> list[dict[str, Any]]:
        """Each run so far: its ``args``, what it read on ``stdin``, its ``OPENCLAW_*`` ``env``."""
        path = self.folder / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def commands(self) -> list[list[str]]:
        return [call["args"] for call in self.calls()]
