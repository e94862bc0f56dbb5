"""Import directions: data flows one way, and nothing imports the daemon."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parent.parent / "src" / "openclaw_trace"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("openclaw_trace"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("openclaw_trace"))
    return found


def module_imports(relative: str) -> set[str]:
    target = SRC / relative
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    return set().union(*(imports_of(f) for f in files))


def test_foundations_import_nothing_of_ours_but_each_other() -> None:
    for name in ("stats.py", "config_types.py", "pricing.py", "lifecycle.py"):
        assert module_imports(name) == set(), name
    assert module_imports("model.py") <= {"openclaw_trace.pricing"}
    assert module_imports("config.py") <= {"openclaw_trace.config_types"}


def test_storage_imports_only_foundations() -> None:
    allowed = {
        "openclaw_trace.model",
        "openclaw_trace.config",
        "openclaw_trace.stats",
        "openclaw_trace.pricing",
        "openclaw_trace.lifecycle",
    }
    assert {m for m in module_imports("storage") if not m.startswith("openclaw_trace.storage")} <= allowed


def test_producers_know_the_queue_not_the_writer() -> None:
    assert not any(m.startswith("openclaw_trace.pipeline.writer") for m in module_imports("api"))
    assert not any(m.startswith("openclaw_trace.storage.writes") for m in module_imports("api"))


def test_nothing_imports_the_daemon() -> None:
    for path in SRC.rglob("*.py"):
        if path.name in ("daemon.py", "cli.py"):
            continue
        assert "openclaw_trace.daemon" not in imports_of(path), path
