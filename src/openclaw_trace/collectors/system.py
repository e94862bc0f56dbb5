"""Host health samples: CPU %, memory, the database's volume and disk I/O.

``SystemSampler`` turns two successive reads of the counters into one
sample; ``SystemCollector`` runs it on ``oct-metrics`` every interval and
offers each sample to the ingest queue as a ``system_metric`` envelope,
where a full queue drops and counts it like any event.

Container-aware, figure by figure:

- **CPU %** is the cgroup's CPU time against its quota (``cpu.max`` /
  ``cfs_quota_us``) when it has one smaller than the host; otherwise the
  host's busy share of all its cores (from ``psutil.cpu_times``).
- **Memory** is the cgroup's working set (usage minus inactive page cache,
  as ``docker stats`` and the kubelet count it) against its limit when it
  has one smaller than the host; otherwise the host's (used = total −
  available).
- **Disk I/O** is the cgroup's own bytes when either limit applies (we are
  in a container), otherwise the host's disks.
- **Disk space** is always the volume that holds the database.

``source`` says which: ``cgroup_v2`` or ``cgroup_v1`` when any figure came
from the cgroup, ``host`` when none did; ``metadata`` names the source of
each figure, the limits, the interval, and the gateway process when found.
The first read only sets the baseline: no sample (CPU % and I/O need an
interval).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from openclaw_trace.collectors.cgroup import CgroupLayout, CgroupReading, detect_layout, read_cgroup
from openclaw_trace.collectors.gateway_process import DEFAULT_NAME_PATTERNS, GatewayProcessProbe
from openclaw_trace.lifecycle import ThreadedPart
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.stats import Stats

log = logging.getLogger("openclaw_trace.metrics")

KIND = "system_metric"
DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_SELF_CGROUP = "/proc/self/cgroup"


@dataclasses.dataclass(frozen=True)
class HostReading:
    """Host counters read once; ``None`` where the platform has no such figure."""

    cpu_total_s: float
    cpu_idle_s: float
    mem_total_bytes: int
    mem_available_bytes: int
    io_read_bytes: int | None
    io_write_bytes: int | None


def read_host() -> HostReading:
    times = psutil.cpu_times()
    # On Linux guest time is already inside user/nice; psutil lists it apart as well.
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    memory = psutil.virtual_memory()
    try:
        io = psutil.disk_io_counters()
    except (OSError, RuntimeError):  # no /proc/diskstats in some sandboxes
        io = None
    return HostReading(
        cpu_total_s=float(total),
        cpu_idle_s=float(idle),
        mem_total_bytes=int(memory.total),
        mem_available_bytes=int(memory.available),
        io_read_bytes=int(io.read_bytes) if io is not None else None,
        io_write_bytes=int(io.write_bytes) if io is not None else None,
    )


@dataclasses.dataclass(frozen=True)
class SystemSample:
    """One row of ``system_metrics`` (see ``storage.writes.COLUMNS["system_metric"]``)."""

    source: str
    cpu_percent: float | None
    mem_used_bytes: int | None
    mem_available_bytes: int | None
    mem_total_bytes: int | None
    disk_total_bytes: int | None
    disk_used_bytes: int | None
    disk_free_bytes: int | None
    disk_percent: float | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    metadata: dict[str, Any]

    def values(self) -> tuple[Any, ...]:
        """Column values in the writer's order, metadata as JSON text."""
        fields = dataclasses.astuple(self)[:-1]
        return (*fields, json.dumps(self.metadata, separators=(",", ":"), sort_keys=True))


def _delta(now: int | None, before: int | None) -> int | None:
    """Counter increase; None when unknown or the counter went back (reset, new device set)."""
    if now is None or before is None or now < before:
        return None
    return now - before


class SystemSampler:
    """Stateful: each ``sample`` compares with the previous read. One thread at a time.

    ``cgroup_root`` is where the cgroup files are (a temporary tree in
    tests); ``self_cgroup`` is the text of ``/proc/self/cgroup`` (which
    directory under the root is ours). ``host_reader`` and ``disk_usage``
    read the host; tests pass fakes to pin the host side.
    """

    def __init__(
        self,
        disk_path: str,
        cgroup_root: str = DEFAULT_CGROUP_ROOT,
        self_cgroup: str | None = None,
        gateway: GatewayProcessProbe | None = None,
        host_reader: Callable[[], HostReading] = read_host,
        disk_usage: Callable[[str], Any] = psutil.disk_usage,
        host_cpu_count: int | None = None,
    ) -> None:
        self._disk_path = disk_path
        if self_cgroup is None:
            self_cgroup = _read_text(DEFAULT_SELF_CGROUP) if cgroup_root == DEFAULT_CGROUP_ROOT else ""
        self.layout: CgroupLayout | None = detect_layout(Path(cgroup_root), self_cgroup)
        self._gateway = gateway
        self._read_host = host_reader
        self._disk_usage = disk_usage
        self._host_cpus = host_cpu_count or os.cpu_count() or 1
        self._previous: tuple[float, HostReading, CgroupReading | None] | None = None

    def sample(self, now_s: float) -> SystemSample | None:
        """Read the counters at monotonic time ``now_s``; None on the first call (baseline).

        Blocks for a few small file reads (plus one process-table scan when
        looking for the gateway).
        """
        host = self._read_host()
        group = read_cgroup(self.layout) if self.layout is not None else None
        gateway = self._gateway.sample() if self._gateway is not None else None
        previous, self._previous = self._previous, (now_s, host, group)
        if previous is None or now_s <= previous[0]:
            return None  # the first CPU sample has no interval behind it: discarded
        before_s, host_before, group_before = previous
        elapsed_s = now_s - before_s
        metadata: dict[str, Any] = {"interval_s": round(elapsed_s, 3)}

        cpu_limit = self._binding(group.cpu_limit_cores if group else None, float(self._host_cpus))
        mem_limit = self._binding(group.mem_limit_bytes if group else None, host.mem_total_bytes)
        in_container = group is not None and (cpu_limit is not None or mem_limit is not None)
        group_source = self.layout.source if self.layout is not None else "host"

        # CPU
        cpu_percent: float | None
        usage = _delta(group.cpu_usage_usec, group_before.cpu_usage_usec) if group and group_before else None
        if cpu_limit is not None and usage is not None:
            cpu_percent = usage / (elapsed_s * 1e6 * cpu_limit) * 100.0
            metadata.update(cpu_source=group_source, cpu_limit_cores=round(cpu_limit, 3))
        else:
            total = host.cpu_total_s - host_before.cpu_total_s
            idle = host.cpu_idle_s - host_before.cpu_idle_s
            cpu_percent = (total - idle) / total * 100.0 if total > 0 else None
            metadata.update(cpu_source="host", cpu_count=self._host_cpus)

        # Memory
        if mem_limit is not None and group is not None and group.mem_usage_bytes is not None:
            used = max(0, group.mem_usage_bytes - (group.mem_inactive_file_bytes or 0))
            mem = (used, max(0, mem_limit - used), mem_limit)
            metadata.update(mem_source=group_source, mem_limit_bytes=mem_limit)
        else:
            available = host.mem_available_bytes
            mem = (max(0, host.mem_total_bytes - available), available, host.mem_total_bytes)
            metadata["mem_source"] = "host"

        # Disk I/O during the interval
        if in_container and group is not None and group_before is not None and group.io_read_bytes is not None:
            io = (
                _delta(group.io_read_bytes, group_before.io_read_bytes),
                _delta(group.io_write_bytes, group_before.io_write_bytes),
            )
            metadata["io_source"] = group_source
        else:
            io = (
                _delta(host.io_read_bytes, host_before.io_read_bytes),
                _delta(host.io_write_bytes, host_before.io_write_bytes),
            )
            metadata["io_source"] = "host"

        disk = self._disk()
        if gateway is not None:
            metadata["gateway"] = gateway
        sources = {metadata["cpu_source"], metadata["mem_source"], metadata["io_source"]}
        return SystemSample(
            source=group_source if group_source in sources else "host",
            cpu_percent=round(min(max(cpu_percent, 0.0), 100.0), 2) if cpu_percent is not None else None,
            mem_used_bytes=mem[0],
            mem_available_bytes=mem[1],
            mem_total_bytes=mem[2],
            disk_total_bytes=disk[0],
            disk_used_bytes=disk[1],
            disk_free_bytes=disk[2],
            disk_percent=disk[3],
            io_read_bytes=io[0],
            io_write_bytes=io[1],
            metadata=metadata,
        )

    @staticmethod
    def _binding(limit: float | int | None, host_capacity: float | int) -> Any:
        """The limit when it is smaller than the host (a quota above the host binds nothing)."""
        return limit if limit is not None and limit < host_capacity else None

    def _disk(self) -> tuple[int | None, int | None, int | None, float | None]:
        try:
            usage = self._disk_usage(_existing_dir(self._disk_path))
        except OSError:
            return None, None, None, None
        return int(usage.total), int(usage.used), int(usage.free), float(usage.percent)


def _existing_dir(path: str) -> str:
    """The nearest existing directory at or above ``path`` (the db may not exist yet)."""
    candidate = Path(path).absolute()
    while not candidate.is_dir() and candidate != candidate.parent:
        candidate = candidate.parent
    return str(candidate)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


class SystemCollector(ThreadedPart):
    """Samples every ``interval_s`` on ``oct-metrics`` and offers the rows to the queue.

    ``start`` once; ``stop(timeout_s)`` is idempotent, cuts the wait short
    and returns whether the thread ended; nothing is offered after it
    returns. A failing sample is logged and counted
    (``metrics.errors``), and the next interval tries again. ``health``
    may be called from any thread.
    """

    name = "metrics"
    stop_after_drain = False

    def __init__(
        self,
        queue: IngestQueue,
        stats: Stats,
        interval_s: float,
        db_path: str,
        cgroup_root: str = DEFAULT_CGROUP_ROOT,
        gateway_pid_file: str | None = None,
        gateway_name_patterns: Sequence[str] = DEFAULT_NAME_PATTERNS,
        sampler: SystemSampler | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("oct-metrics")
        self._queue = queue
        self._stats = stats
        self._interval_s = interval_s
        self._clock = clock
        # An empty pattern list and no PID file: do not look for the gateway at all.
        gateway = (
            GatewayProcessProbe(pid_file=gateway_pid_file, name_patterns=gateway_name_patterns)
            if sampler is None and (gateway_pid_file or gateway_name_patterns)
            else None
        )
        self._gateway = gateway
        self._sampler = sampler or SystemSampler(db_path, cgroup_root=cgroup_root, gateway=gateway)
        self._lock = threading.Lock()
        self._samples = 0
        self._dropped = 0
        self._errors = 0
        self._last_sample_ms: int | None = None
        self._last_source: str | None = None

    def health(self) -> dict[str, Any]:
        layout = self._sampler.layout
        with self._lock:
            return {
                "alive": self._thread.is_alive(),
                "interval_s": self._interval_s,
                "cgroup": layout.source if layout is not None else None,
                "source": self._last_source,
                "samples": self._samples,
                "dropped": self._dropped,
                "errors": self._errors,
                "last_sample_ms": self._last_sample_ms,
                "gateway_pid": self._gateway.pid if self._gateway is not None else None,
            }

    def _run(self) -> None:
        next_at = self._clock()
        self._tick()  # the baseline: no row
        while True:
            next_at += self._interval_s
            now = self._clock()
            if next_at < now:  # suspended or very late: skip missed ticks rather than burst
                next_at = now
            if self._stop.wait(next_at - now):
                return
            self._tick()

    def _tick(self) -> None:
        try:
            sample = self._sampler.sample(self._clock())
            if sample is None:
                return
            now_ms = time.time_ns() // 1_000_000
            queued = self._queue.offer(Envelope(KIND, now_ms, sample.values()))
            with self._lock:
                self._last_sample_ms = now_ms
                self._last_source = sample.source
                if queued:
                    self._samples += 1
                else:
                    self._dropped += 1  # already counted by the queue as queue_full / shutdown
        except Exception:
            with self._lock:
                self._errors += 1
            self._stats.count("metrics.errors")
            log.exception("system metrics sample failed")
