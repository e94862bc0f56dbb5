"""The pre-filled database every scenario starts from, built once and cached.

The daemon's insert cost depends on the table size (index depth, page cache
misses), so the benchmark measures against a table of a million rows, as a
host would have after weeks of use, not an empty file. Building it takes a
while, so it is cached under ``bench/results/cache`` and each scenario gets
its own copy.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import payloads
from openclaw_trace.storage import rollups, schema
from openclaw_trace.storage.connection import open_write_connection

# Bump when the rows change shape, so an old cache is not reused.
PREFILL_FORMAT = 4
TRANSACTION_ROWS = 100_000
# Rows at the end of the table left unpushed, as if the pusher were behind.
UNSYNCED_TAIL = 5_000
TEXT_POOL_SIZE = 2_000
DAY_MS = 86_400_000

_INSERT = (
    "INSERT INTO llm_traces (trace_id, created_at, provider, model, input_text, output_text,"
    " prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_ms, status, error_type,"
    " session_id, agent_id, channel, metadata, synced, pushed_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def cached_db(cache_dir: Path, rows: int) -> Path:
    """The path of a database with ``rows`` trace rows, building it if it is not cached."""
    path = cache_dir / f"prefill-f{PREFILL_FORMAT}-s{schema.LATEST_VERSION}-{rows}.db"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    started = time.monotonic()
    print(f"bench: building a {rows:,}-row database (cached in {cache_dir}) ...", flush=True)
    build(partial, rows)
    os.replace(partial, path)  # only a complete file ever gets the cached name
    size_gb = path.stat().st_size / 1e9
    print(f"bench: built in {time.monotonic() - started:.0f} s, {size_gb:.2f} GB", flush=True)
    return path


def build(path: Path, rows: int) -> None:
    # The daemon's own connection setup and migrations, so the file is what it
    # would create (WAL, incremental auto-vacuum, the same indexes).
    conn = open_write_connection(str(path))
    try:
        schema.migrate(conn)
        # A bulk load needs no crash safety: no journal, no fsync. WAL is
        # switched back on at the end and stays set in the file.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        generated = _rows(rows)
        done = 0
        while done < rows:
            chunk = min(TRANSACTION_ROWS, rows - done)
            conn.execute("BEGIN")
            conn.executemany(_INSERT, (next(generated) for _ in range(chunk)))
            conn.execute("COMMIT")
            done += chunk
        conn.execute("BEGIN")
        rollups.roll_up(conn)  # as the daemon's writer would have, a second behind the rows
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
        count = int(conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0])
        if count != rows:
            raise RuntimeError(f"pre-fill wrote {count} rows, expected {rows}")
    finally:
        conn.close()


def count_rows(path: Path) -> int:
    """Rows in every data table: the daemon also writes its own host-metric samples."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return sum(int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in schema.DATA_TABLES)
    finally:
        conn.close()


def _rows(total: int) -> Iterator[tuple[Any, ...]]:
    """``total`` rows over the last 30 days, oldest first, as the daemon appends them."""
    rng = random.Random(7)
    # A pool of texts keeps generation fast; uuid4 keys stay unique and random.
    inputs = [payloads.sentence(rng, rng.randint(400, 900)) for _ in range(TEXT_POOL_SIZE)]
    outputs = [payloads.sentence(rng, rng.randint(80, 400)) for _ in range(TEXT_POOL_SIZE)]
    providers = [(provider, model) for provider, models in payloads.PROVIDERS.items() for model in models]
    now_ms = time.time_ns() // 1_000_000
    start_ms = now_ms - 30 * DAY_MS
    step_ms = max(1, 30 * DAY_MS // max(1, total))
    for index in range(total):
        created_at = start_ms + index * step_ms
        provider, model = providers[index % len(providers)]
        prompt_tokens = rng.randint(200, 4000)
        completion_tokens = rng.randint(20, 800)
        failed = rng.random() < 0.02
        synced = 0 if index >= total - UNSYNCED_TAIL else 1
        yield (
            str(uuid.uuid4()),
            created_at,
            provider,
            model,
            rng.choice(inputs),
            None if failed else rng.choice(outputs),
            prompt_tokens,
            None if failed else completion_tokens,
            prompt_tokens + (0 if failed else completion_tokens),
            round(rng.uniform(0.0001, 0.05), 6),
            round(rng.uniform(150, 9000), 1),
            "error" if failed else "ok",
            "rate_limit" if failed else None,
            f"sess-{index // 40:08x}",
            f"agent-{index % 8}",
            payloads.CHANNELS[index % len(payloads.CHANNELS)],
            '{"host":"bench","attempt":1}',
            synced,
            created_at + 60_000 if synced else None,
        )
