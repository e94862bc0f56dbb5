"""Every relative link of the README and docs/ resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_resolve() -> None:
    broken = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.exists() or REPO not in resolved.parents:
                broken.append(f"{page.relative_to(REPO)} → {target}")
    assert broken == []


def test_the_readme_stays_a_page_for_the_people_who_run_it() -> None:
    assert len((REPO / "README.md").read_text()) <= 12_000
