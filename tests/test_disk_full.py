"""A full disk: no crash, no 5xx, /health says so, and writing resumes once space is back.

Needs root to mount a small tmpfs (as CI and the dev machines have); skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import rows


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_volume_degrades_then_resumes(small_volume: Path, make_daemon: Any, connect: Any) -> None:
    daemon = make_daemon(db_path=str(small_volume / "oct.db"))
    client = connect(daemon)
    # Leave a few hundred KB free, then write more than that.
    filler = small_volume / "filler"
    free = os.statvfs(small_volume).f_bavail * os.statvfs(small_volume).f_frsize
    filler.write_bytes(b"\0" * max(0, free - 300 * 1024))
    event = {"provider": "p", "model": "m", "input_text": "x" * 8000}
    statuses = [client.post("/v1/traces", [event] * 5)[0] for _ in range(40)]  # 1.6 MB
    assert set(statuses) == {202}  # never a 5xx, whatever the disk says
    deadline = time.monotonic() + 20
    report = client.health()
    while report["db_status"] != "error" and time.monotonic() < deadline:
        time.sleep(0.05)
        report = client.health()
    assert report["status"] == "error"
    assert report["db_status"] == "error"
    assert "full" in (report["writer"]["last_error"] or "")
    assert report["writer"]["alive"]
    filler.unlink()  # space is back
    assert daemon.writer.flush(30)
    report = client.health()
    assert report["status"] in ("ok", "degraded")  # degraded: the queue was full a moment ago
    assert report["db_status"] == "ok"
    assert report["events_received"] == report["events_written"] + report["events_dropped"]
    assert len(rows(daemon.config.db_path, "SELECT id FROM llm_traces")) == report["events_written"]
