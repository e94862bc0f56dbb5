"""Running wrk with bench/post.lua or bench/post_paced.lua and reading its result line."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULT_MARKER = "OCT_BENCH_RESULT "
# wrk's own socket timeout; a request slower than this counts as an error.
REQUEST_TIMEOUT_S = 5


@dataclasses.dataclass(frozen=True)
class Load:
    """What wrk sends: ``rate`` requests/s in total (0 = flat out) for ``duration_s``."""

    body: bytes
    events_per_request: int
    connections: int
    threads: int
    duration_s: float
    rate: float = 0.0
    cpus: str | None = None  # taskset -c list for wrk; None = unpinned
    content_type: str = "application/json"


@dataclasses.dataclass(frozen=True)
class WrkResult:
    requests: int  # responses received within the run
    duration_s: float
    status_errors: int  # responses with a status ≥ 400
    socket_errors: int  # connect/read/write errors and timeouts
    latency_us: dict[str, float]

    @property
    def ok_responses(self) -> int:
        # Every 2xx the ingest path gives is a 202; wrk only counts ≥ 400 apart.
        return self.requests - self.status_errors

    def per_s(self, count: float) -> float:
        return count / self.duration_s if self.duration_s > 0 else 0.0


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout + done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(url: str, load: Load, work_dir: Path) -> WrkResult:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    body_file = work_dir / "body.json"
    body_file.write_bytes(load.body)
    script_args = [str(body_file), load.content_type]
    script = BENCH_DIR / "post.lua"
    if load.rate > 0:
        script = BENCH_DIR / "post_paced.lua"
        script_args.append(f"{load.rate / load.threads:.3f}")
    command = [
        *(["taskset", "-c", load.cpus] if load.cpus else []),
        "wrk",
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={max(1, round(load.duration_s))}s",
        f"--timeout={REQUEST_TIMEOUT_S}s",
        "--latency",
        f"--script={script}",
        url + "/v1/traces",
        "--",
        *script_args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=load.duration_s + 60, check=False)
    (work_dir / "wrk.out").write_text(done.stdout + done.stderr)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            raw = json.loads(line[len(RESULT_MARKER) :])
            errors = raw["errors"]
            return WrkResult(
                requests=raw["requests"],
                duration_s=raw["duration_us"] / 1e6,
                status_errors=errors["status"],
                socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
                latency_us={key: float(value) for key, value in raw["latency_us"].items()},
            )
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stderr.strip()[:500]}")
