"""Storage upkeep on a real database through the real writer: retention, space cleanup, vacuum."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openclaw_trace.daemon import Daemon
from openclaw_trace.model import Envelope
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.pipeline.writer import BatchWriter
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import file_size, open_read_connection, open_write_connection
from openclaw_trace.storage.upkeep import DAY_MS, StorageUpkeep, volume_percent
from tests.conftest import Client

NOW_MS = 1_800_000_000_000
PAD = "x" * 3000  # ~3 KB per row, so a few hundred rows make megabytes


class Store:
    """A migrated database with its real queue, writer and stats."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.conn = open_write_connection(db_path)
        schema.migrate(self.conn)
        self.stats = Stats()
        self.queue = IngestQueue(self.stats)
        self.writer = BatchWriter(self.conn, self.queue, self.stats)
        self.writer.start()

    def add(self, kind: str, created_at_ms: list[int]) -> None:
        for at in created_at_ms:
            if kind == "system_metric":
                values: tuple[object, ...] = ("host", 1.0, 1, 2, 3, 4, 5, 6, 7.0, 8, 9, json.dumps({"pad": PAD}))
            else:
                values = ("gateway", "error", "error", PAD, "{}", "{}")
            while not self.queue.offer(Envelope(kind, at, values)):
                assert self.writer.flush(10)
        assert self.writer.flush(10)

    def mark_pushed(self, table: str, before_ms: int | None = None, where: str = "1") -> int:
        """What the pusher does after a 2xx: rows pushed, unsynced_count lowered."""
        sql = f"UPDATE {table} SET synced = 1, pushed_at = ? WHERE synced = 0 AND {where}"
        params: list[object] = [NOW_MS]
        if before_ms is not None:
            sql += " AND created_at < ?"
            params.append(before_ms)
        changed = self.writer.call(lambda c: c.execute(sql, params).rowcount)
        self.stats.add_unsynced(-changed)
        return changed

    def query(self, sql: str) -> list[tuple[object, ...]]:
        conn = open_read_connection(self.db_path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def count(self, table: str, where: str = "1") -> int:
        return int(self.query(f"SELECT count(*) FROM {table} WHERE {where}")[0][0])

    def unsynced_in_db(self) -> int:
        return sum(self.count(t, "synced = 0") for t in schema.DATA_TABLES)

    def pushed_times(self) -> list[int]:
        sql = (
            "SELECT created_at FROM system_metrics WHERE synced = 1"
            " UNION ALL SELECT created_at FROM gateway_events WHERE synced = 1 ORDER BY 1"
        )
        return [int(row[0]) for row in self.query(sql)]  # type: ignore[call-overload]

    def upkeep(self, **overrides: object) -> StorageUpkeep:
        settings: dict[str, object] = {
            "interval_s": 300.0,
            "retention_days": 3,
            "db_threshold_bytes": 1 << 40,
            "disk_threshold_percent": 80.0,
            "disk_percent": lambda path: 10.0,
            "clock_ms": lambda: NOW_MS,
            "chunk_rows": 100,
        }
        settings.update(overrides)
        return StorageUpkeep(self.writer, self.stats, self.db_path, **settings)  # type: ignore[arg-type]

    def close(self) -> None:
        assert self.writer.stop(10)
        self.conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(str(tmp_path / "u.db"))
    yield s
    s.close()


def integrity_ok(store: Store) -> bool:
    return store.query("PRAGMA integrity_check") == [("ok",)]


def test_retention_deletes_old_rows_pushed_or_not_and_counts_them(store: Store) -> None:
    old = [NOW_MS - 4 * DAY_MS + i for i in range(30)]
    recent = [NOW_MS - 3600_000 + i for i in range(20)]
    store.add("system_metric", old + recent)
    store.add("gateway_event", old[:10])
    store.mark_pushed("system_metrics", before_ms=old[10])  # 10 old rows pushed, 20 old unpushed
    assert store.stats.snapshot().unsynced == 20 + 20 + 10

    report = store.upkeep().run_once()

    assert report.deleted["retention_pushed"] == 10
    assert report.deleted["retention_unpushed"] == 20 + 10
    assert store.count("system_metrics") == 20 and store.count("gateway_events") == 0
    assert store.count("system_metrics", f"created_at < {NOW_MS - 3 * DAY_MS}") == 0
    snapshot = store.stats.snapshot()
    assert snapshot.counters["upkeep.deleted.retention_pushed"] == 10
    assert snapshot.counters["upkeep.deleted.retention_unpushed"] == 30
    assert snapshot.unsynced == store.unsynced_in_db() == 20
    assert integrity_ok(store)


def test_db_threshold_deletes_pushed_rows_oldest_first_and_spares_unpushed(store: Store) -> None:
    times = [NOW_MS - 3600_000 + i * 10 for i in range(600)]
    store.add("system_metric", times[0::2])
    store.add("gateway_event", times[1::2])
    # Every third row pushed, across both tables and all of the time range.
    store.mark_pushed("system_metrics", where="id % 3 = 0")
    store.mark_pushed("gateway_events", where="id % 3 = 0")
    pushed_before = store.pushed_times()
    pushed = len(pushed_before)
    unpushed_before = store.unsynced_in_db()
    live = int(store.query("PRAGMA page_count")[0][0]) * 4096
    # Deleting about half the pushed rows brings the database under 90 % of its threshold.
    threshold = int((live - pushed * 3100 // 2) / 0.9)
    assert threshold < live

    report = store.upkeep(db_threshold_bytes=threshold).run_once()

    assert report.over_db_threshold
    assert report.deleted["space_unpushed"] == 0
    assert 0 < report.deleted["space_pushed"] < pushed
    assert store.unsynced_in_db() == unpushed_before  # not one unpushed row lost
    assert report.db_live_bytes <= threshold * 0.9
    # Oldest first across both tables: the pushed rows left are exactly the newest ones.
    left = store.pushed_times()
    assert left == pushed_before[report.deleted["space_pushed"] :]
    assert store.stats.snapshot().counters["upkeep.deleted.space_pushed"] == report.deleted["space_pushed"]
    assert integrity_ok(store)


def test_disk_threshold_deletes_every_pushed_row_but_unpushed_survive_until_retention(store: Store) -> None:
    times = [NOW_MS - 2 * DAY_MS + i for i in range(200)]
    store.add("system_metric", times)
    store.mark_pushed("system_metrics", before_ms=times[100])
    seen: list[str] = []

    def full_volume(path: str) -> float:
        seen.append(path)
        return 95.0  # deleting our rows does not help: someone else filled the volume

    upkeep = store.upkeep(disk_percent=full_volume)
    report = upkeep.run_once()

    assert report.over_disk_threshold and not report.over_db_threshold
    assert report.deleted["space_pushed"] == 100
    assert report.deleted["space_unpushed"] == 0
    assert store.count("system_metrics") == 100 == store.count("system_metrics", "synced = 0")
    assert seen and seen[0] == store.db_path

    # A day and a bit later those rows pass the 3-day retention, and only then go.
    later = store.upkeep(disk_percent=full_volume, clock_ms=lambda: NOW_MS + DAY_MS + 1000).run_once()
    assert later.deleted["retention_unpushed"] == 100
    assert store.count("system_metrics") == 0
    assert store.stats.snapshot().unsynced == 0
    health = upkeep.health()
    assert health["deleted"]["space_pushed"] == 100
    assert health["last_cycle"]["over_disk_threshold"] is True


def test_unpushed_rows_go_as_a_last_resort_when_the_db_stays_over(store: Store) -> None:
    times = [NOW_MS - 3600_000 + i for i in range(400)]
    store.add("system_metric", times)
    store.mark_pushed("system_metrics", before_ms=times[50])
    live = int(store.query("PRAGMA page_count")[0][0]) * 4096
    threshold = live // 2  # half the database must go; pushed rows are only an eighth of it

    report = store.upkeep(db_threshold_bytes=threshold).run_once()

    assert report.deleted["space_pushed"] == 50
    assert report.deleted["space_unpushed"] > 0
    assert report.db_live_bytes <= threshold * 0.9
    # The oldest unpushed went; the newest are kept.
    oldest_left = store.query("SELECT min(created_at) FROM system_metrics")[0][0]
    assert oldest_left == times[50 + report.deleted["space_unpushed"]]
    assert store.query("SELECT max(created_at) FROM system_metrics")[0][0] == times[-1]
    snapshot = store.stats.snapshot()
    assert snapshot.counters["upkeep.deleted.space_unpushed"] == report.deleted["space_unpushed"]
    assert snapshot.unsynced == store.unsynced_in_db()
    assert integrity_ok(store)


def test_volume_last_resort_deletes_unpushed_rows(store: Store) -> None:
    store.add("system_metric", [NOW_MS - 1000 + i for i in range(50)])
    report = store.upkeep(disk_percent=lambda path: 99.0).run_once()
    assert report.deleted["space_unpushed"] == 50
    assert store.stats.snapshot().unsynced == 0


def test_the_file_shrinks_after_vacuum_and_stays_consistent(store: Store) -> None:
    store.add("system_metric", [NOW_MS - 5 * DAY_MS + i for i in range(1500)])
    store.add("system_metric", [NOW_MS - 1000 + i for i in range(50)])
    store.writer.call(lambda c: writes.checkpoint(c, "TRUNCATE"), transaction=False)
    before = file_size(store.db_path)
    assert before > 4 * 1024 * 1024

    report = store.upkeep().run_once()

    assert report.deleted["retention_unpushed"] == 1500
    assert report.vacuumed_pages > 1000
    assert store.query("PRAGMA freelist_count") == [(0,)]
    after = file_size(store.db_path)
    assert after < before / 4, (before, after)
    assert report.db_file_bytes == after
    assert integrity_ok(store)
    assert store.count("system_metrics") == 50


def test_health_shows_totals_and_the_checkpointer(store: Store) -> None:
    class FakeCheckpointer:
        def health(self) -> dict[str, object]:
            return {"checkpoints": 3}

    upkeep = store.upkeep(checkpointer=FakeCheckpointer())
    assert upkeep.health()["last_cycle"] is None
    upkeep.run_once()
    health = upkeep.health()
    assert health["cycles"] == 1 and health["failures"] == 0
    assert set(health["deleted"]) == {
        "retention_pushed",
        "retention_unpushed",
        "space_pushed",
        "space_unpushed",
        "push_log",
        "rollups",
    }
    assert health["wal"] == {"checkpoints": 3}


def test_push_log_entries_past_retention_go(store: Store) -> None:
    store.writer.call(
        lambda c: c.executemany(
            "INSERT INTO push_log (started_at, status) VALUES (?, 'ok')",
            [(NOW_MS - 4 * DAY_MS,), (NOW_MS - 1000,)],
        )
    )
    report = store.upkeep().run_once()
    assert report.deleted["push_log"] == 1
    assert store.count("push_log") == 1


def test_the_loop_runs_in_a_thread_and_stops(store: Store) -> None:
    store.add("system_metric", [NOW_MS - 4 * DAY_MS])
    upkeep = store.upkeep(first_run_delay_s=0.0, interval_s=3600.0)
    upkeep.start()
    deadline = time.monotonic() + 10
    while upkeep.health()["cycles"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert upkeep.stop(5)
    assert upkeep.stop(1)
    assert upkeep.health()["alive"] is False
    assert store.count("system_metrics") == 0


def test_a_failing_cycle_is_counted_and_the_loop_carries_on(tmp_path: Path) -> None:
    stats = Stats()

    class BrokenWriter:
        def call(self, fn: object, timeout_s: float = 30.0, *, transaction: bool = True) -> object:
            raise sqlite3.OperationalError("disk I/O error")

    upkeep = StorageUpkeep(
        BrokenWriter(),
        stats,
        str(tmp_path / "x.db"),
        interval_s=0.01,
        retention_days=3,
        db_threshold_bytes=1 << 30,
        disk_threshold_percent=80.0,
        first_run_delay_s=0.0,
    )
    upkeep.start()
    deadline = time.monotonic() + 10
    while stats.snapshot().counters.get("upkeep.failures", 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert upkeep.stop(5)
    assert "disk I/O error" in (upkeep.health()["last_error"] or "")


def test_volume_percent_of_a_real_directory(tmp_path: Path) -> None:
    assert 0.0 < volume_percent(str(tmp_path / "x.db")) <= 100.0


def test_the_daemon_shows_upkeep_and_the_wal_in_health(
    make_daemon: Callable[..., Daemon], connect: Callable[[Daemon], Client]
) -> None:
    daemon = make_daemon(wal_restart_threshold_bytes=2 * 1024 * 1024, wal_checkpoint_interval=120.0)
    report = connect(daemon).health()
    section = report["upkeep"]
    assert section["alive"] is True
    assert section["deleted"] == dict.fromkeys(section["deleted"], 0)
    assert section["wal"]["restart_threshold_bytes"] == 2 * 1024 * 1024
    assert section["wal"]["interval_s"] == 120.0
    daemon.stop()
    upkeep = next(c for c in daemon.components if c.name == "upkeep")
    assert (upkeep.health() or {})["alive"] is False
