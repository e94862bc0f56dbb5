"""cgroup file parsers (table tests) and layout detection on fake trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from openclaw_trace.collectors.cgroup import (
    detect_layout,
    parse_blkio,
    parse_cpu_max,
    parse_io_stat,
    parse_keyed,
    parse_memory_limit,
    parse_self_cgroup,
    parse_v1_quota,
    read_cgroup,
)


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("max 100000\n", None),
        ("50000 100000\n", 0.5),
        ("200000 100000", 2.0),
        ("0 100000", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_cpu_max(text: str, cores: float | None) -> None:
    assert parse_cpu_max(text) == cores


@pytest.mark.parametrize(
    ("quota", "period", "cores"),
    [("-1\n", "100000\n", None), ("150000", "100000", 1.5), ("x", "100000", None), ("100000", "0", None)],
)
def test_v1_quota(quota: str, period: str, cores: float | None) -> None:
    assert parse_v1_quota(quota, period) == cores


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("max\n", None),
        ("536870912\n", 536870912),
        ("9223372036854771712\n", None),  # v1's "unlimited"
        ("0", None),
        ("", None),
    ],
)
def test_memory_limit(text: str, limit: int | None) -> None:
    assert parse_memory_limit(text) == limit


def test_keyed_skips_what_is_not_key_value() -> None:
    assert parse_keyed("usage_usec 12\nnr_periods 3\nbroken\nx y z\nname abc\n") == {"usage_usec": 12, "nr_periods": 3}


def test_io_stat_sums_devices() -> None:
    text = "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=24 wbytes=6 rios=1 wios=1\n"
    assert parse_io_stat(text) == (1024, 2006)
    assert parse_io_stat("") == (0, 0)


def test_blkio_sums_devices_and_skips_total() -> None:
    text = "8:0 Read 100\n8:0 Write 50\n8:0 Sync 150\n8:16 Read 1\n8:16 Write 2\nTotal 153\n"
    assert parse_blkio(text) == (101, 52)


def test_self_cgroup() -> None:
    text = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/system.slice/x.service\n"
    assert parse_self_cgroup(text) == {
        "cpu": "/docker/abc",
        "cpuacct": "/docker/abc",
        "memory": "/docker/abc",
        "": "/system.slice/x.service",
    }


@given(st.text())
@example("8:0 rbytes=\u00b2 wbytes=1\n8:0 Read \u00b2\n")  # "²" is a digit to str.isdigit, not to int()
def test_parsers_never_raise(text: str) -> None:
    parse_cpu_max(text)
    parse_memory_limit(text)
    parse_io_stat(text)
    parse_blkio(text)
    parse_keyed(text)
    parse_self_cgroup(text)
    parse_v1_quota(text, text)


def test_no_cgroup_files_means_no_layout(tmp_path: Path) -> None:
    assert detect_layout(tmp_path) is None


def test_v2_uses_the_process_own_directory_when_it_exists(tmp_path: Path) -> None:
    for directory in (tmp_path, tmp_path / "system.slice" / "oct.service"):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cgroup.controllers").write_text("cpu memory io\n")
        (directory / "cpu.stat").write_text("usage_usec 1\n")
    (tmp_path / "system.slice" / "oct.service" / "memory.max").write_text("1048576\n")
    layout = detect_layout(tmp_path, "0::/system.slice/oct.service\n")
    assert layout is not None and layout.version == 2
    assert read_cgroup(layout).mem_limit_bytes == 1048576
    # A path that is not under the root (no cgroup namespace view of it): the root.
    layout = detect_layout(tmp_path, "0::/elsewhere\n")
    assert layout is not None and layout.unified == tmp_path


def test_v1_joint_cpu_cpuacct_mount(tmp_path: Path) -> None:
    joint = tmp_path / "cpu,cpuacct"
    joint.mkdir()
    (joint / "cpuacct.usage").write_text("5000000\n")
    (joint / "cpu.cfs_quota_us").write_text("50000\n")
    (joint / "cpu.cfs_period_us").write_text("100000\n")
    layout = detect_layout(tmp_path)
    assert layout is not None and layout.version == 1
    reading = read_cgroup(layout)
    assert reading.cpu_usage_usec == 5000
    assert reading.cpu_limit_cores == 0.5
    assert reading.mem_usage_bytes is None  # no memory controller: unknown, not an error
