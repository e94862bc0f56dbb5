"""`openclaw-trace metrics`: recent samples as a table or JSON, read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openclaw_trace.cli import main
from openclaw_trace.cli_metrics import format_table, human_bytes, recent_samples
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_write_connection

GiB = 1024**3


def make_db(path: Path, count: int, gateway: bool = False, start_ms: int | None = None) -> str:
    db_path = str(path)
    conn = open_write_connection(db_path)
    schema.migrate(conn)
    start = start_ms if start_ms is not None else time.time_ns() // 1_000_000 - count * 15_000
    rows = []
    for i in range(count):
        metadata: dict[str, object] = {"interval_s": 15.0, "cpu_source": "host"}
        if gateway:
            metadata["gateway"] = {
                "pid": 42,
                "cpu_percent": 3.5,
                "rss_bytes": 200 * 2**20,
                "threads": 11,
                "open_fds": 30,
            }
        values = ("host", 10.0 + i, 4 * GiB, 12 * GiB, 16 * GiB, 100 * GiB, 40 * GiB, 60 * GiB, 40.0, 4096, 1536)
        rows.append((f"t{i}", start + i * 15_000, *values, json.dumps(metadata)))
    if rows:
        writes.insert_rows(conn, "system_metric", rows)
    writes.checkpoint(conn, "TRUNCATE")
    conn.close()
    return db_path


def test_table_of_recent_samples_oldest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path = make_db(tmp_path / "m.db", 30)
    assert main(["metrics", "--db", db_path, "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "(UTC)", "SOURCE"]
    assert len(lines) == 6
    # The five newest, the oldest of them first: CPU 35 … 39.
    assert [line.split()[3] for line in lines[1:]] == ["35.0", "36.0", "37.0", "38.0", "39.0"]
    assert lines[1].split()[4:] == ["4.0G", "16G", "25.0", "40.0", "60G", "4.0K", "1.5K"]
    assert "GW" not in lines[0]


def test_json_from_oct_db_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = make_db(tmp_path / "m.db", 3, gateway=True)
    monkeypatch.setenv("OCT_DB_PATH", db_path)
    assert main(["metrics", "--json"]) == 0
    samples = json.loads(capsys.readouterr().out)
    assert [s["cpu_percent"] for s in samples] == [10.0, 11.0, 12.0]
    assert samples[0]["metadata"]["gateway"]["threads"] == 11
    assert samples[0]["mem_total_bytes"] == 16 * GiB
    assert samples[0]["time"].endswith("Z")


def test_gateway_columns_when_sampled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path = make_db(tmp_path / "m.db", 2, gateway=True)
    assert main(["metrics", "--db", db_path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "GW CPU%" in out[0] and "GW RSS" in out[0]
    assert out[1].split()[-4:] == ["3.5", "200M", "11", "30"]


def test_since_filters_old_samples(tmp_path: Path) -> None:
    now_ms = time.time_ns() // 1_000_000
    db_path = make_db(tmp_path / "m.db", 10, start_ms=now_ms - 3 * 3600_000)
    assert len(recent_samples(db_path, 100)) == 10
    assert recent_samples(db_path, 100, since_ms=now_ms - 3600_000) == []


def test_empty_missing_and_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = make_db(tmp_path / "e.db", 0)
    assert main(["metrics", "--db", empty]) == 0
    assert "no system metrics samples yet" in capsys.readouterr().out
    missing = str(tmp_path / "none.db")
    assert main(["metrics", "--db", missing]) == 1
    assert "no database" in capsys.readouterr().err
    assert not os.path.exists(missing)  # read-only: nothing created
    assert main(["metrics", "--db", empty, "--since", "5 parsecs"]) == 2
    assert main(["metrics", "--db", empty, "--limit", "0"]) == 2


def test_reads_without_writing(tmp_path: Path) -> None:
    db_path = make_db(tmp_path / "m.db", 3)
    before = os.stat(db_path).st_mtime_ns, os.path.getsize(db_path)
    assert len(recent_samples(db_path, 10)) == 3
    assert (os.stat(db_path).st_mtime_ns, os.path.getsize(db_path)) == before


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (0, "0B"), (1023, "1023B"), (1536, "1.5K"), (200 * 2**20, "200M"), (5 * GiB, "5.0G")],
)
def test_human_bytes(value: int | None, text: str) -> None:
    assert human_bytes(value) == text


def test_format_table_handles_unknown_figures() -> None:
    sample = {
        "time": "2026-11-23T18:00:00Z",
        "source": None,
        "cpu_percent": None,
        "mem_used_bytes": None,
        "mem_total_bytes": None,
        "disk_percent": None,
        "disk_free_bytes": None,
        "io_read_bytes": None,
        "io_write_bytes": None,
        "metadata": "not json",
    }
    assert format_table([sample]).splitlines()[1].split()[2:] == ["-"] * 9


def test_the_console_command(tmp_path: Path) -> None:
    db_path = make_db(tmp_path / "m.db", 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCT_")}
    result = subprocess.run(
        [sys.executable, "-m", "openclaw_trace", "metrics", "--db", db_path, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2
