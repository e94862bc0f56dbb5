"""Reading a container's own CPU, memory and I/O counters from cgroup files.

Two layouts are understood, both found under one root (``/sys/fs/cgroup``
in production, a temporary directory in tests):

- **v2** (unified): ``cpu.stat``, ``cpu.max``, ``memory.current``,
  ``memory.max``, ``memory.stat``, ``io.stat`` in one directory.
- **v1**: one directory per controller — ``cpuacct/cpuacct.usage``,
  ``cpu/cpu.cfs_quota_us`` + ``cpu.cfs_period_us``,
  ``memory/memory.usage_in_bytes`` + ``memory.limit_in_bytes`` +
  ``memory.stat``, ``blkio/blkio.throttle.io_service_bytes``.

Inside a container with its own cgroup namespace the process's cgroup is
the root of the mount. Without one (some sandboxes, systemd services), the
process sits deeper; ``/proc/self/cgroup`` names the path, which is used
when that directory exists under the root.

The parsers are pure functions of file text; ``read_cgroup`` does the I/O
(a handful of small reads, no locks) and never raises for a missing or
unreadable file: that figure is ``None``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

# v1 spells "no limit" as a huge page-aligned number (2^63 rounded down to a page).
V1_NO_LIMIT_BYTES = 2**62


@dataclasses.dataclass(frozen=True)
class CgroupLayout:
    """Where one process's cgroup files are: v2 uses ``unified``, v1 the per-controller dirs."""

    version: int  # 1 or 2
    unified: Path | None = None
    cpu: Path | None = None
    cpuacct: Path | None = None
    memory: Path | None = None
    blkio: Path | None = None

    @property
    def source(self) -> str:
        return f"cgroup_v{self.version}"


@dataclasses.dataclass(frozen=True)
class CgroupReading:
    """One read of the counters; ``None`` where a file was missing or unreadable."""

    cpu_usage_usec: int | None  # cumulative CPU time of the cgroup
    cpu_limit_cores: float | None  # quota / period; None = no quota
    mem_usage_bytes: int | None  # memory.current / memory.usage_in_bytes (includes page cache)
    mem_inactive_file_bytes: int | None  # reclaimable page cache, subtracted for the working set
    mem_limit_bytes: int | None  # None = no limit
    io_read_bytes: int | None  # cumulative, summed over devices
    io_write_bytes: int | None


# -- pure parsers ---------------------------------------------------------


def parse_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (cpu.stat, memory.stat) → dict; lines that are not that are skipped."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                values[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return values


def parse_cpu_max(text: str) -> float | None:
    """v2 ``cpu.max`` (``"max 100000"`` or ``"200000 100000"``) → cores, None for no quota."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_v1_quota(quota_text: str, period_text: str) -> float | None:
    """v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` → cores; quota -1 means none."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_memory_limit(text: str) -> int | None:
    """v2 ``memory.max`` (``max`` or bytes) or v1 ``memory.limit_in_bytes`` → bytes, None for no limit."""
    stripped = text.strip()
    if stripped == "max":
        return None
    try:
        value = int(stripped)
    except ValueError:
        return None
    return value if 0 < value < V1_NO_LIMIT_BYTES else None


def parse_io_stat(text: str) -> tuple[int, int]:
    """v2 ``io.stat`` (``8:0 rbytes=1 wbytes=2 rios=…``) → (read, written) bytes over all devices."""
    read = written = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key in ("rbytes", "wbytes") and value.isdecimal():
                if key == "rbytes":
                    read += int(value)
                else:
                    written += int(value)
    return read, written


def parse_blkio(text: str) -> tuple[int, int]:
    """v1 ``blkio.*io_service_bytes`` (``8:0 Read 123``) → (read, written) over all devices."""
    read = written = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].isdecimal():
            continue  # the closing "Total N" line has two fields
        if parts[1] == "Read":
            read += int(parts[2])
        elif parts[1] == "Write":
            written += int(parts[2])
    return read, written


def parse_self_cgroup(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` → {controller: path}; the v2 entry is under ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            paths[controller] = parts[2]
    return paths


# -- finding and reading the files ------------------------------------------


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _own_dir(mount: Path, relative: str | None) -> Path:
    """The process's cgroup directory under ``mount`` when it exists there, else ``mount``."""
    if relative and relative != "/":
        candidate = mount / relative.lstrip("/")
        if candidate.is_dir():
            return candidate
    return mount


def _v1_mount(root: Path, controller: str) -> Path | None:
    # Distributions mount cpu and cpuacct jointly as "cpu,cpuacct" (with symlinks) or apart.
    for name in (controller, "cpu,cpuacct", "cpuacct,cpu"):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    return None


def detect_layout(root: Path, self_cgroup: str = "") -> CgroupLayout | None:
    """The cgroup layout under ``root`` for the process described by ``self_cgroup``; None if none.

    v2 is recognised by ``cgroup.controllers`` together with ``cpu.stat`` at
    the root (on a hybrid host the v2 root under ``unified/`` carries no
    controllers, so v1 is used there).
    """
    paths = parse_self_cgroup(self_cgroup)
    if (root / "cgroup.controllers").is_file() and (root / "cpu.stat").is_file():
        return CgroupLayout(version=2, unified=_own_dir(root, paths.get("")))
    found: dict[str, Path | None] = {}
    for controller in ("cpu", "cpuacct", "memory", "blkio"):
        mount = _v1_mount(root, controller)
        found[controller] = _own_dir(mount, paths.get(controller)) if mount is not None else None
    if found["cpuacct"] is None and found["memory"] is None:
        return None
    return CgroupLayout(version=1, **found)


def read_cgroup(layout: CgroupLayout) -> CgroupReading:
    """Read the counters once. Never raises for missing files (those figures are None)."""
    if layout.version == 2:
        return _read_v2(layout.unified or Path("/nonexistent"))
    return _read_v1(layout)


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _read_v2(directory: Path) -> CgroupReading:
    cpu_stat = _read(directory / "cpu.stat")
    cpu_max = _read(directory / "cpu.max")
    memory_max = _read(directory / "memory.max")
    memory_stat = _read(directory / "memory.stat")
    io_stat = _read(directory / "io.stat")
    io = parse_io_stat(io_stat) if io_stat is not None else (None, None)
    return CgroupReading(
        cpu_usage_usec=parse_keyed(cpu_stat).get("usage_usec") if cpu_stat is not None else None,
        cpu_limit_cores=parse_cpu_max(cpu_max) if cpu_max is not None else None,
        mem_usage_bytes=_int_or_none(_read(directory / "memory.current")),
        mem_inactive_file_bytes=parse_keyed(memory_stat).get("inactive_file") if memory_stat is not None else None,
        mem_limit_bytes=parse_memory_limit(memory_max) if memory_max is not None else None,
        io_read_bytes=io[0],
        io_write_bytes=io[1],
    )


def _read_v1(layout: CgroupLayout) -> CgroupReading:
    def file(directory: Path | None, name: str) -> str | None:
        return _read(directory / name) if directory is not None else None

    usage_ns = _int_or_none(file(layout.cpuacct, "cpuacct.usage"))
    quota = file(layout.cpu, "cpu.cfs_quota_us")
    period = file(layout.cpu, "cpu.cfs_period_us")
    limit = file(layout.memory, "memory.limit_in_bytes")
    memory_stat = file(layout.memory, "memory.stat")
    # The throttle file counts every I/O; the plain one only what the CFQ/BFQ scheduler saw.
    blkio = file(layout.blkio, "blkio.throttle.io_service_bytes") or file(layout.blkio, "blkio.io_service_bytes")
    io = parse_blkio(blkio) if blkio is not None else (None, None)
    return CgroupReading(
        cpu_usage_usec=usage_ns // 1000 if usage_ns is not None else None,
        cpu_limit_cores=parse_v1_quota(quota, period) if quota is not None and period is not None else None,
        mem_usage_bytes=_int_or_none(file(layout.memory, "memory.usage_in_bytes")),
        # total_inactive_file includes child cgroups, as usage_in_bytes does.
        mem_inactive_file_bytes=parse_keyed(memory_stat).get("total_inactive_file") if memory_stat else None,
        mem_limit_bytes=parse_memory_limit(limit) if limit is not None else None,
        io_read_bytes=io[0],
        io_write_bytes=io[1],
    )
