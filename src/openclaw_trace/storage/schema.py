"""The versioned schema: named, numbered migrations that only move forward.

Each migration runs with its record in ``schema_migrations`` in one
transaction, so a crash mid-migration leaves the previous version intact.
Timestamps are Unix milliseconds. Every data table has ``trace_id`` (UUID
v4, assigned by the writer), ``metadata`` (JSON text), ``synced`` and
``pushed_at``, and an index on ``(synced, created_at)`` for the pusher.

``trace_id`` has no UNIQUE index on purpose: random v4 keys in a B-tree
index make every insert slower as the table grows (measured: 41k → 20k
rows/s at a million rows). Uniqueness comes from the 122 random bits.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from openclaw_trace.storage import rollups, writes
from openclaw_trace.storage.connection import immediate_transaction

DATA_TABLES = tuple(writes.TABLES.values())  # the tables of events (not push_log, not positions)


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_SYNC_COLUMNS = """
    metadata TEXT,
    synced INTEGER NOT NULL DEFAULT 0,
    pushed_at INTEGER
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial tables",
        (
            f"""CREATE TABLE llm_traces (
                id INTEGER PRIMARY KEY,
                trace_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                provider TEXT NOT NULL,
                model TEXT NOT NULL,
                input_text TEXT,
                output_text TEXT,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                total_tokens INTEGER,
                cost_usd REAL,
                latency_ms REAL,
                status TEXT NOT NULL,
                error_type TEXT,
                session_id TEXT,
                agent_id TEXT,
                channel TEXT,
                {_SYNC_COLUMNS})""",
            f"""CREATE TABLE error_events (
                id INTEGER PRIMARY KEY,
                trace_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                error_type TEXT NOT NULL,
                category TEXT,
                severity TEXT NOT NULL,
                message TEXT NOT NULL,
                stack_trace TEXT,
                provider TEXT,
                model TEXT,
                session_id TEXT,
                agent_id TEXT,
                channel TEXT,
                {_SYNC_COLUMNS})""",
            f"""CREATE TABLE system_metrics (
                id INTEGER PRIMARY KEY,
                trace_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                source TEXT,
                cpu_percent REAL,
                mem_used_bytes INTEGER,
                mem_available_bytes INTEGER,
                mem_total_bytes INTEGER,
                disk_total_bytes INTEGER,
                disk_used_bytes INTEGER,
                disk_free_bytes INTEGER,
                disk_percent REAL,
                io_read_bytes INTEGER,
                io_write_bytes INTEGER,
                {_SYNC_COLUMNS})""",
            """CREATE TABLE push_log (
                id INTEGER PRIMARY KEY,
                started_at INTEGER NOT NULL,
                duration_ms INTEGER,
                status TEXT NOT NULL,
                endpoint TEXT,
                format TEXT,
                events INTEGER NOT NULL DEFAULT 0,
                batches INTEGER NOT NULL DEFAULT 0,
                bytes INTEGER NOT NULL DEFAULT 0,
                http_status INTEGER,
                error TEXT)""",
            "CREATE INDEX idx_llm_traces_synced_created ON llm_traces (synced, created_at)",
            "CREATE INDEX idx_error_events_synced_created ON error_events (synced, created_at)",
            "CREATE INDEX idx_system_metrics_synced_created ON system_metrics (synced, created_at)",
            "CREATE INDEX idx_push_log_started ON push_log (started_at)",
        ),
    ),
    Migration(
        2,
        "cache tokens, cost provenance, OpenTelemetry metric points",
        (
            "ALTER TABLE llm_traces ADD COLUMN cache_read_tokens INTEGER",
            "ALTER TABLE llm_traces ADD COLUMN cache_write_tokens INTEGER",
            # reported | computed | unpriced; NULL for rows written before this migration
            "ALTER TABLE llm_traces ADD COLUMN cost_source TEXT",
            f"""CREATE TABLE otel_metrics (
                id INTEGER PRIMARY KEY,
                trace_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                name TEXT NOT NULL,
                unit TEXT,
                kind TEXT NOT NULL,
                value REAL,
                attributes TEXT,
                service_name TEXT,
                {_SYNC_COLUMNS})""",
            "CREATE INDEX idx_otel_metrics_synced_created ON otel_metrics (synced, created_at)",
            "CREATE INDEX idx_otel_metrics_name_created ON otel_metrics (name, created_at)",
        ),
    ),
    Migration(
        3,
        "gateway log events and tail positions",
        (
            f"""CREATE TABLE gateway_events (
                id INTEGER PRIMARY KEY,
                trace_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                subsystem TEXT,
                kind TEXT NOT NULL,
                level TEXT,
                message TEXT,
                attributes TEXT,
                {_SYNC_COLUMNS})""",
            "CREATE INDEX idx_gateway_events_synced_created ON gateway_events (synced, created_at)",
            # One row per followed source: which file (device, inode) and how far it was read.
            # Written by the writer in the same transaction as the events of those lines.
            """CREATE TABLE tail_positions (
                source TEXT PRIMARY KEY,
                file_path TEXT NOT NULL,
                device INTEGER,
                inode INTEGER,
                offset INTEGER NOT NULL,
                updated_at INTEGER NOT NULL)""",
        ),
    ),
    Migration(
        4,
        "hourly cost and latency rollups, kept by triggers on llm_traces",
        (*rollups.CREATE_STATEMENTS, *rollups.BACKFILL_STATEMENTS),
    ),
    Migration(
        5,
        "the ingest books over time",
        (
            # One row a minute: the daemon's counters since it started (started_at), as /health shows them.
            """CREATE TABLE ingest_books (
                id INTEGER PRIMARY KEY,
                at INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                received INTEGER NOT NULL,
                written INTEGER NOT NULL,
                dropped INTEGER NOT NULL,
                dropped_by_reason TEXT NOT NULL,
                queue_depth INTEGER NOT NULL)""",
            "CREATE INDEX idx_ingest_books_at ON ingest_books (at)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, up_to: int = LATEST_VERSION) -> list[int]:
    """Apply every migration newer than the database (up to ``up_to``); return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Refuses a
    database written by a newer version rather than guessing at it.
    """
    version = current_version(conn)
    if version > LATEST_VERSION:
        raise RuntimeError(
            f"database schema version {version} is newer than this openclaw-trace "
            f"understands ({LATEST_VERSION}); upgrade openclaw-trace"
        )
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version <= version or migration.version > up_to:
            continue
        with immediate_transaction(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time_ns() // 1_000_000),
            )
            conn.execute(f"PRAGMA user_version={migration.version}")
        applied.append(migration.version)
    return applied
