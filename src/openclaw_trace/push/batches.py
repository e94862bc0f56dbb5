"""Reading unsynced rows and splitting them into batches no larger than a byte budget.

Rows are read per table in id order, in chunks, each chunk one short
statement on a read-only connection, so no read transaction stays open
while a batch is on the wire (a long reader would pin the WAL). A cycle
reads only up to the highest id it saw at its start: rows that arrive
during the cycle wait for the next one, so a busy agent cannot make a cycle
endless.

``split`` is pure: sized items in, lists of items out, each list's sizes
summing to at most the budget; an item larger than the budget on its own
goes alone (the encoders truncate first, so that stays rare and bounded).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

from openclaw_trace.push.ledger import Ledger
from openclaw_trace.storage import writes

# Table → the event kind the writer knows it by (trace, error, system_metric …).
KIND_OF_TABLE: dict[str, str] = {table: kind for kind, table in writes.TABLES.items()}
# Bookkeeping columns that are not part of an event.
_NOT_EVENT_COLUMNS = frozenset({"id", "synced", "pushed_at"})
CHUNK_ROWS = 2_000

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Row:
    """One stored row: its table, its id and its columns (without id, synced, pushed_at)."""

    table: str
    id: int
    values: dict[str, Any]

    @property
    def kind(self) -> str:
        return KIND_OF_TABLE[self.table]

    @property
    def trace_id(self) -> str:
        return str(self.values["trace_id"])


@dataclasses.dataclass(frozen=True)
class Sized(Generic[T]):
    """An encoded event and the bytes it adds to a request body."""

    row_id: int
    size: int
    item: T
    # Marking checks the id *and* the trace_id: SQLite reuses the ids of deleted
    # rows, so an id alone could mark a newer row that was never sent.
    trace_id: str = ""


def max_unsynced_id(conn: sqlite3.Connection, table: str) -> int:
    """The highest id of an unsynced row of ``table`` (0 when none)."""
    found = conn.execute(f"SELECT max(id) FROM {table} WHERE synced = 0").fetchone()[0]
    return int(found or 0)


def read_unsynced(conn: sqlite3.Connection, table: str, after_id: int, up_to_id: int, limit: int) -> list[Row]:
    """Up to ``limit`` unsynced rows with ``after_id < id <= up_to_id``, in id order."""
    cursor = conn.execute(
        f"SELECT * FROM {table} WHERE synced = 0 AND id > ? AND id <= ? ORDER BY id LIMIT ?",
        (after_id, up_to_id, limit),
    )
    names = [d[0] for d in cursor.description]
    out = []
    for record in cursor.fetchall():
        values = {n: v for n, v in zip(names, record, strict=True) if n not in _NOT_EVENT_COLUMNS}
        out.append(Row(table, int(record[names.index("id")]), values))
    return out


def iter_unsynced(
    conn: sqlite3.Connection,
    table: str,
    skip: Callable[[int], bool] = lambda row_id: False,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Row]:
    """Every unsynced row of ``table`` present when iteration starts, in id order, minus ``skip``-ped ids."""
    up_to = max_unsynced_id(conn, table)
    after = 0
    while after < up_to:
        chunk = read_unsynced(conn, table, after, up_to, chunk_rows)
        if not chunk:
            return
        after = chunk[-1].id
        for row in chunk:
            if not skip(row.id):
                yield row


def split(items: Iterable[Sized[T]], budget_bytes: int) -> Iterator[list[Sized[T]]]:
    """Consecutive runs of ``items`` whose sizes sum to at most ``budget_bytes``.

    Order is kept. An item larger than the budget is yielded alone. Lazy: at
    most one batch is held at a time.
    """
    batch: list[Sized[T]] = []
    total = 0
    for item in items:
        if batch and total + item.size > budget_bytes:
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += item.size
    if batch:
        yield batch


def halves(items: Sequence[T]) -> tuple[list[T], list[T]]:
    """A batch cut in two (for a receiver whose limit is below ours: 413)."""
    middle = len(items) // 2
    return list(items[:middle]), list(items[middle:])


@dataclasses.dataclass(frozen=True)
class Request:
    """One request body to send: where (``""`` for the endpoint itself), what, and its type."""

    path: str
    body: bytes
    content_type: str
    events: int


class Encoder(Protocol):
    """A push format: rows → sized items → request bodies. Pure; no I/O."""

    name: str
    carries_ledger: bool  # True: every request holds the ledger; False: one ledger_request per cycle

    def item(self, row: Row, budget_bytes: int) -> Sized[Any]:
        """The row encoded; shortened (text cut) when it alone would pass ``budget_bytes``."""
        ...

    def overhead_bytes(self, ledger: Ledger | None) -> int:
        """Bytes a request adds around its items (envelope, resource); an upper bound."""
        ...

    def request(self, table: str, items: Sequence[Sized[Any]], ledger: Ledger | None) -> Request: ...

    def ledger_request(self, ledger: Ledger) -> Request | None:
        """A request carrying only the ledger (a cycle with no rows, or OTLP's per-cycle record)."""
        ...


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never splitting a character."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return text
    return raw[: max(0, max_bytes)].decode("utf-8", "ignore")


def shrink_values(
    values: dict[str, Any], excess_bytes: int, columns: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``values`` with its longest text ``columns`` cut until about ``excess_bytes`` are gone.

    Returns the copy and the names of the columns that were cut. Text is
    what makes a row huge (prompts, outputs, stack traces); numbers never are.
    """
    out = dict(values)
    cut: list[str] = []
    remaining = excess_bytes
    # Longest first: one cut usually suffices.
    for name in sorted(columns, key=lambda c: -len(str(out.get(c) or ""))):
        if remaining <= 0:
            break
        text = out.get(name)
        if not isinstance(text, str) or not text:
            continue
        size = len(text.encode("utf-8", "surrogatepass"))
        keep = max(0, size - remaining - 64)  # 64: JSON escaping makes the encoded text a little longer
        out[name] = truncate_utf8(text, keep)
        remaining -= size - keep
        cut.append(name)
    return out, cut
