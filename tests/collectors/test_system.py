"""System sampling from fake cgroup trees, and the collector inside a real daemon."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.collectors.system import HostReading, SystemCollector, SystemSampler
from openclaw_trace.daemon import Daemon
from openclaw_trace.storage.writes import COLUMNS
from tests.conftest import Client, rows

MiB = 1024 * 1024
GiB = 1024 * MiB
DiskUsage = namedtuple("DiskUsage", "total used free percent")


class FakeHost:
    """Host counters the test moves by hand: 4 cores, 16 GiB."""

    def __init__(self) -> None:
        self.reading = HostReading(
            cpu_total_s=1000.0,
            cpu_idle_s=800.0,
            mem_total_bytes=16 * GiB,
            mem_available_bytes=12 * GiB,
            io_read_bytes=10_000,
            io_write_bytes=20_000,
        )

    def __call__(self) -> HostReading:
        return self.reading

    def advance(self, total_s: float, idle_s: float, read: int, written: int) -> None:
        r = self.reading
        self.reading = dataclasses.replace(
            r,
            cpu_total_s=r.cpu_total_s + total_s,
            cpu_idle_s=r.cpu_idle_s + idle_s,
            io_read_bytes=(r.io_read_bytes or 0) + read,
            io_write_bytes=(r.io_write_bytes or 0) + written,
        )


def fake_disk(path: str) -> DiskUsage:
    return DiskUsage(100 * GiB, 40 * GiB, 60 * GiB, 40.0)


def sampler_for(root: Path, host: FakeHost) -> SystemSampler:
    return SystemSampler(
        "/tmp/oct.db", cgroup_root=str(root), self_cgroup="", host_reader=host, disk_usage=fake_disk, host_cpu_count=4
    )


def write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def v2_tree(root: Path, usage_usec: int, cpu_max: str, memory_max: str, io: tuple[int, int]) -> None:
    write(
        root,
        {
            "cgroup.controllers": "cpu io memory pids\n",
            "cpu.stat": f"usage_usec {usage_usec}\nuser_usec 0\nsystem_usec 0\n",
            "cpu.max": cpu_max,
            "memory.current": str(300 * MiB),
            "memory.max": memory_max,
            "memory.stat": f"anon 1000\nfile 2000\ninactive_file {44 * MiB}\nactive_file 0\n",
            "io.stat": f"8:0 rbytes={io[0]} wbytes={io[1]} rios=1 wios=1 dbytes=0 dios=0\n"
            "259:0 rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n",
        },
    )


def v1_tree(root: Path, usage_ns: int, quota: str, limit: str, io: tuple[int, int]) -> None:
    write(root / "cpu", {"cpu.cfs_quota_us": quota, "cpu.cfs_period_us": "100000\n"})
    write(root / "cpuacct", {"cpuacct.usage": f"{usage_ns}\n"})
    write(
        root / "memory",
        {
            "memory.usage_in_bytes": str(600 * MiB),
            "memory.limit_in_bytes": limit,
            "memory.stat": f"cache 1\nrss 2\ntotal_inactive_file {88 * MiB}\n",
        },
    )
    blkio = f"8:0 Read {io[0]}\n8:0 Write {io[1]}\n8:0 Total {sum(io)}\nTotal {sum(io)}\n"
    write(root / "blkio", {"blkio.throttle.io_service_bytes": blkio})


def test_v2_cpu_against_quota_memory_against_limit_and_io_deltas(tmp_path: Path) -> None:
    host = FakeHost()
    v2_tree(tmp_path, 1_000_000, "50000 100000\n", f"{512 * MiB}\n", (1000, 2000))
    sampler = sampler_for(tmp_path, host)
    assert sampler.sample(100.0) is None  # the first CPU sample is discarded

    # 2.5 s of CPU over 10 s is 0.25 cores: half of a 0.5-core quota.
    v2_tree(tmp_path, 3_500_000, "50000 100000\n", f"{512 * MiB}\n", (5096, 2500))
    sample = sampler.sample(110.0)
    assert sample is not None
    assert sample.source == "cgroup_v2"
    assert sample.cpu_percent == 50.0
    # Working set = memory.current (300 MiB) − inactive_file (44 MiB), against the 512 MiB limit.
    assert (sample.mem_used_bytes, sample.mem_available_bytes, sample.mem_total_bytes) == (
        256 * MiB,
        256 * MiB,
        512 * MiB,
    )
    assert (sample.io_read_bytes, sample.io_write_bytes) == (4096, 500)
    assert (sample.disk_total_bytes, sample.disk_used_bytes, sample.disk_free_bytes, sample.disk_percent) == (
        100 * GiB,
        40 * GiB,
        60 * GiB,
        40.0,
    )
    assert sample.metadata["cpu_source"] == sample.metadata["mem_source"] == sample.metadata["io_source"] == "cgroup_v2"
    assert sample.metadata["cpu_limit_cores"] == 0.5
    assert sample.metadata["mem_limit_bytes"] == 512 * MiB
    assert sample.metadata["interval_s"] == 10.0
    values = sample.values()
    assert len(values) == len(COLUMNS["system_metric"])
    assert json.loads(values[-1])["cpu_source"] == "cgroup_v2"


def test_v1_cpu_against_quota_memory_against_limit_and_io_deltas(tmp_path: Path) -> None:
    host = FakeHost()
    v1_tree(tmp_path, 10_000_000_000, "150000\n", f"{1 * GiB}\n", (0, 0))
    sampler = sampler_for(tmp_path, host)
    assert sampler.sample(0.0) is None
    # 3 s of CPU (in ns) over 4 s is 0.75 cores: half of a 1.5-core quota.
    v1_tree(tmp_path, 13_000_000_000, "150000\n", f"{1 * GiB}\n", (8192, 4096))
    sample = sampler.sample(4.0)
    assert sample is not None
    assert sample.source == "cgroup_v1"
    assert sample.cpu_percent == 50.0
    assert sample.mem_used_bytes == 512 * MiB  # 600 MiB − 88 MiB inactive page cache
    assert sample.mem_total_bytes == 1 * GiB
    assert sample.mem_available_bytes == 512 * MiB
    assert (sample.io_read_bytes, sample.io_write_bytes) == (8192, 4096)


def test_no_limits_fall_back_to_host_figures(tmp_path: Path) -> None:
    host = FakeHost()
    v2_tree(tmp_path, 0, "max 100000\n", "max\n", (0, 0))
    sampler = sampler_for(tmp_path, host)
    assert sampler.sample(0.0) is None
    v2_tree(tmp_path, 9_000_000, "max 100000\n", "max\n", (1, 1))
    host.advance(total_s=40.0, idle_s=30.0, read=512, written=1024)  # 4 cores × 10 s, a quarter busy
    sample = sampler.sample(10.0)
    assert sample is not None
    assert sample.source == "host"
    assert sample.cpu_percent == 25.0
    assert (sample.mem_used_bytes, sample.mem_available_bytes, sample.mem_total_bytes) == (4 * GiB, 12 * GiB, 16 * GiB)
    assert (sample.io_read_bytes, sample.io_write_bytes) == (512, 1024)
    assert sample.metadata["cpu_source"] == sample.metadata["mem_source"] == sample.metadata["io_source"] == "host"


def test_limits_above_the_host_bind_nothing(tmp_path: Path) -> None:
    host = FakeHost()
    v1_tree(tmp_path, 0, "800000\n", "9223372036854771712\n", (0, 0))  # 8 cores on a 4-core host, v1 "unlimited"
    sampler = sampler_for(tmp_path, host)
    sampler.sample(0.0)
    host.advance(total_s=40.0, idle_s=20.0, read=0, written=0)
    sample = sampler.sample(10.0)
    assert sample is not None
    assert sample.source == "host"
    assert sample.cpu_percent == 50.0


def test_memory_limit_only_mixes_sources_and_says_so(tmp_path: Path) -> None:
    host = FakeHost()
    v2_tree(tmp_path, 0, "max 100000\n", f"{512 * MiB}\n", (0, 0))
    sampler = sampler_for(tmp_path, host)
    sampler.sample(0.0)
    host.advance(total_s=40.0, idle_s=40.0, read=0, written=0)
    sample = sampler.sample(10.0)
    assert sample is not None
    assert sample.source == "cgroup_v2"
    assert sample.metadata["cpu_source"] == "host"
    assert sample.metadata["mem_source"] == "cgroup_v2"
    assert sample.cpu_percent == 0.0


def test_outside_any_cgroup_uses_the_host(tmp_path: Path) -> None:
    host = FakeHost()
    sampler = sampler_for(tmp_path / "empty", host)
    assert sampler.layout is None
    sampler.sample(0.0)
    host.advance(total_s=8.0, idle_s=2.0, read=10, written=20)
    sample = sampler.sample(2.0)
    assert sample is not None and sample.source == "host"
    assert sample.cpu_percent == 75.0


def test_a_counter_that_went_back_gives_no_io_figure(tmp_path: Path) -> None:
    host = FakeHost()
    v2_tree(tmp_path, 0, "50000 100000\n", f"{512 * MiB}\n", (5000, 5000))
    sampler = sampler_for(tmp_path, host)
    sampler.sample(0.0)
    v2_tree(tmp_path, 100, "50000 100000\n", f"{512 * MiB}\n", (10, 6000))
    sample = sampler.sample(1.0)
    assert sample is not None
    assert (sample.io_read_bytes, sample.io_write_bytes) == (None, 1000)


def test_real_host_sample_is_plausible(tmp_path: Path) -> None:
    sampler = SystemSampler(str(tmp_path / "x.db"), cgroup_root=str(tmp_path / "none"), self_cgroup="")
    assert sampler.sample(time.monotonic()) is None
    deadline = time.monotonic() + 5
    while True:  # the kernel's CPU counters move in clock ticks: wait for one
        sample = sampler.sample(time.monotonic())
        assert sample is not None and sample.source == "host"
        if sample.cpu_percent is not None or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert sample.cpu_percent is not None and 0.0 <= sample.cpu_percent <= 100.0
    assert sample.mem_total_bytes and 0 < (sample.mem_used_bytes or 0) < sample.mem_total_bytes
    assert sample.disk_percent is not None and 0.0 < sample.disk_percent <= 100.0


# -- the collector in a real daemon ------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.02)


def collector_of(daemon: Daemon) -> SystemCollector:
    found = [c for c in daemon.components if isinstance(c, SystemCollector)]
    assert len(found) == 1
    return found[0]


def test_rows_land_at_the_interval_and_stop_on_shutdown(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    interval_s = 0.2
    daemon = make_daemon(metrics_interval=interval_s)
    db_path = daemon.config.db_path
    wait_for(lambda: len(rows(db_path, "SELECT id FROM system_metrics")) >= 3)
    section = connect(daemon).health()["metrics"]
    assert section["alive"] is True
    assert section["interval_s"] == interval_s
    assert section["samples"] >= 3
    daemon.stop()
    collector = collector_of(daemon)
    health = collector.health()
    assert health["alive"] is False
    stored = rows(db_path, "SELECT * FROM system_metrics ORDER BY id")
    # Everything offered was written, and nothing was offered after the stop.
    assert len(stored) == health["samples"]
    assert daemon.stats.snapshot().written.get("system_metric") == health["samples"]
    gaps = [b["created_at"] - a["created_at"] for a, b in itertools.pairwise(stored)]
    assert all(gap >= interval_s * 1000 * 0.5 for gap in gaps)
    for row in stored:
        assert row["source"] in ("host", "cgroup_v1", "cgroup_v2")
        assert row["mem_total_bytes"] > 0 and row["disk_total_bytes"] > 0
        metadata = json.loads(row["metadata"])
        assert metadata["interval_s"] >= interval_s * 0.5
        assert metadata["cpu_source"] in ("host", row["source"])


def test_stop_is_idempotent_and_works_unstarted(tmp_path: Path) -> None:
    from openclaw_trace.pipeline.queue import IngestQueue
    from openclaw_trace.stats import Stats

    stats = Stats()
    collector = SystemCollector(IngestQueue(stats), stats, 60.0, str(tmp_path / "x.db"), gateway_name_patterns=())
    assert collector.stop(1)
    assert collector.stop(1)


def test_a_long_interval_stops_promptly(tmp_path: Path) -> None:
    from openclaw_trace.pipeline.queue import IngestQueue
    from openclaw_trace.stats import Stats

    stats = Stats()
    queue = IngestQueue(stats)
    collector = SystemCollector(queue, stats, 3600.0, str(tmp_path / "x.db"), gateway_name_patterns=())
    collector.start()
    assert collector.stop(5)  # the hour-long wait is cut short by the stop event
    assert queue.depth() == 0  # the baseline read is not a row


@pytest.mark.parametrize("patterns", [(), ("openclaw", "gateway")])
def test_health_names_the_gateway_search(tmp_path: Path, patterns: tuple[str, ...]) -> None:
    from openclaw_trace.pipeline.queue import IngestQueue
    from openclaw_trace.stats import Stats

    stats = Stats()
    collector = SystemCollector(IngestQueue(stats), stats, 60.0, str(tmp_path / "x.db"), gateway_name_patterns=patterns)
    assert set(collector.health()) >= {"alive", "samples", "dropped", "errors", "gateway_pid", "source", "cgroup"}


def test_collectors_know_the_queue_not_the_writer() -> None:
    import ast

    src = Path(__file__).parents[2] / "src" / "openclaw_trace" / "collectors"
    for path in src.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("openclaw_trace.pipeline.writer", "openclaw_trace.storage")), path


def test_daemon_samples_the_gateway_named_by_its_pid_file(tmp_path: Path, make_daemon: Any) -> None:
    pid_file = tmp_path / "gateway.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    daemon = make_daemon(metrics_interval=0.1, gateway_pid_file=str(pid_file))
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        assert daemon.writer.flush(5)
        for row in rows(daemon.config.db_path, "SELECT metadata FROM system_metrics"):
            gateway = json.loads(row["metadata"] or "{}").get("gateway")
            if gateway:
                found.append(gateway)
        time.sleep(0.05)
    assert found, "no sample named the gateway"
    assert found[0]["pid"] == os.getpid()
