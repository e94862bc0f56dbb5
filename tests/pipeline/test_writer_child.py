"""The writer process's loop, run on a thread over real pipes and a real SQLite file: what it answers, in what order.

``run_child`` itself (signals, descriptors, the fork) is the writer process's:
see test_writer_process.py. Here ``ChildWriter`` gets the messages the daemon
would send and the test reads its answers as the daemon would.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.pipeline.channel import ChannelReader, ChannelWriter, pipe
from openclaw_trace.pipeline.writer_child import ChildWriter, CounterLog, Inbox, run_call, sendable
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import rows
from tests.pipeline.test_writer import traces


def count_traces(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM llm_traces").fetchone()[0])


def insert_then_fail(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO push_log (started_at, status) VALUES (1, 'ok')")
    raise ValueError("changed my mind")


def a_lock(_conn: sqlite3.Connection) -> Any:
    return threading.Lock()  # cannot be pickled back to the daemon


class Child:
    """A ChildWriter on a thread, with the daemon's two channel ends."""

    def __init__(self, db_path: str) -> None:
        self.conn = open_write_connection(db_path)
        to_child = pipe()
        from_child = pipe()
        self.to_child = ChannelWriter(to_child[1])
        self.from_child = ChannelReader(from_child[0])
        self._child_ends = (ChannelReader(to_child[0]), ChannelWriter(from_child[1]))
        writer = ChildWriter(self.conn, Inbox(self._child_ends[0]), self._child_ends[1], scrub_secrets=False)
        self.thread = threading.Thread(target=writer.run, name="test-writer-child")
        self.thread.start()
        self.log: list[tuple[Any, ...]] = []  # every answer read, in the order it came
        self._taken: set[int] = set()

    def send(self, *messages: tuple[Any, ...]) -> None:
        for message in messages:
            self.to_child.send(message)

    def answer(self, tag: str) -> tuple[Any, ...]:
        """The first answer tagged ``tag`` not returned yet, read from the child if need be."""
        while True:
            for index, message in enumerate(self.log):
                if message[0] == tag and index not in self._taken:
                    self._taken.add(index)
                    return message
            self.log += self.from_child.receive(timeout_s=10)

    def read_until_done(self, batches: int) -> list[tuple[Any, ...]]:
        """The ``done`` answers that settle ``batches`` batches, in order (batches may be answered together)."""
        done: list[tuple[Any, ...]] = []
        while sum(answer[1] for answer in done) < batches:
            done.append(self.answer("done"))
        return done

    def finished(self) -> bool:
        self.thread.join(10)
        return not self.thread.is_alive()

    def close(self) -> None:
        self.to_child.close()
        self.thread.join(10)
        # The inbox's reader (oct-writer-in) ends at the end of its channel: only then are its
        # descriptors closed, so that it never reads from a pipe that reuses their numbers.
        for thread in threading.enumerate():
            if thread.name == "oct-writer-in":
                thread.join(10)
        self.conn.close()
        self.from_child.close()
        for end in self._child_ends:
            end.close()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    path = str(tmp_path / "child.db")
    conn = open_write_connection(path)
    schema.migrate(conn)
    conn.close()
    return path


@pytest.fixture
def child(db_path: str) -> Iterator[Child]:
    made = Child(db_path)
    yield made
    made.close()


def batch(slots: int, events: int, start: int = 0) -> tuple[int, list[Any]]:
    return slots, [envelope.as_tuple() for envelope in traces(events, start)]


def written(answers: list[tuple[Any, ...]]) -> int:
    return sum(args[1] for answer in answers for name, args in answer[-1] if name == "record_written")


def test_it_says_ready_with_what_waits_to_be_pushed(db_path: str) -> None:
    conn = open_write_connection(db_path)
    writes.insert_rows(conn, "error", [(f"e{n}", n, "crash", None, "error", "x", *[None] * 7) for n in range(2)])
    conn.close()
    child = Child(db_path)
    try:
        tag, pid, unsynced = child.answer("ready")
        assert (tag, unsynced) == ("ready", 2)
        assert isinstance(pid, int)
    finally:
        child.close()


def test_batches_are_written_in_order_and_answered_with_their_slots_and_counts(child: Child, db_path: str) -> None:
    child.answer("ready")
    child.send(("batches", [batch(3, 3), batch(1, 2, start=3)]), ("batches", [batch(4, 4, start=5)]))
    done = child.read_until_done(3)
    assert sum(answer[1] for answer in done) == 3  # batches
    assert sum(answer[2] for answer in done) == 8  # their slots, released by the daemon on this answer
    assert written(done) == 9
    stored = rows(db_path, "SELECT model FROM llm_traces ORDER BY id")
    assert [row["model"] for row in stored] == [f"m{n}" for n in range(9)]


def test_a_calls_answer_comes_after_those_of_the_batches_written_before_it(child: Child) -> None:
    child.answer("ready")
    child.send(("batches", [batch(5, 5)]), ("call", (1, count_traces, False)))
    result = child.answer("result")
    _, call_id, ok, seen, _health = result
    assert (call_id, ok) == (1, True) and seen in (0, 5)
    # Calls go between batches (ahead of any still waiting): it saw 0 or 5 rows. Either way
    # the daemon heard of every row it saw before hearing its result.
    answered_before = [answer for answer in child.log[: child.log.index(result)] if answer[0] == "done"]
    assert written(answered_before) == seen
    assert written(child.read_until_done(1)) == 5


def test_a_failed_call_is_rolled_back_and_answered_with_its_error(child: Child, db_path: str) -> None:
    child.answer("ready")
    child.send(("call", (7, insert_then_fail, True)), ("call", (8, a_lock, False)))
    _, call_id, ok, error, _ = child.answer("result")
    assert (call_id, ok, type(error), str(error)) == (7, False, ValueError, "changed my mind")
    assert rows(db_path, "SELECT id FROM push_log") == []  # its insert went with its transaction
    _, call_id, ok, error, _ = child.answer("result")
    assert (call_id, ok, type(error)) == (8, False, RuntimeError)  # a result that cannot travel is an error
    assert "lock" in str(error)


def test_close_ends_the_loop_after_everything_sent_before_it(child: Child, db_path: str) -> None:
    child.answer("ready")
    child.send(("batches", [batch(2, 2)]), ("call", (1, count_traces, False)), ("batches", [batch(3, 3, 2)]))
    child.send(("close",))
    assert child.finished()
    assert child.answer("result")[2] is True
    assert written(child.read_until_done(2)) == 5
    assert len(rows(db_path, "SELECT id FROM llm_traces")) == 5


def test_an_unknown_message_is_logged_and_the_rest_is_still_written(
    child: Child, caplog: pytest.LogCaptureFixture
) -> None:
    child.answer("ready")
    with caplog.at_level(logging.ERROR, logger="openclaw_trace.writer"):
        child.send(("bogus", 1), ("batches", [batch(1, 1)]))
        assert written(child.read_until_done(1)) == 1
    assert "unknown message 'bogus'" in caplog.text


def test_when_the_daemon_is_gone_the_loop_ends_by_itself(child: Child) -> None:
    child.answer("ready")
    child.to_child.close()  # the daemon died: no "close" will come
    assert child.finished()


def test_the_counter_log_holds_event_counts_until_taken_and_health_changes_once() -> None:
    counters = CounterLog()
    counters.record_write_ok()
    counters.record_write_ok()  # a run of successes is one change
    counters.record_written("trace", 5)
    counters.record_dropped("error", "write_error")
    counters.record_write_failure("disk I/O error", True)
    counters.record_write_ok()
    counters.count("scrub.redacted", 2)
    counters.record_feeds({"api": 5}, 1)
    counters.add_unsynced(-1)
    assert counters.take_health() == [
        ("record_write_ok", ()),
        ("record_write_failure", ("disk I/O error", True)),
        ("record_write_ok", ()),
    ]
    assert counters.take_events() == [
        ("record_written", ("trace", 5)),
        ("record_dropped", ("error", "write_error", 1)),
        ("count", ("scrub.redacted", 2)),
        ("record_feeds", ({"api": 5}, 1)),
        ("add_unsynced", (-1,)),
    ]
    assert counters.take_events() == counters.take_health() == []


def test_a_call_runs_in_a_transaction_only_when_asked(db_path: str) -> None:
    conn = open_write_connection(db_path)
    try:
        with pytest.raises(ValueError):
            run_call(conn, insert_then_fail, transaction=True)
        assert count_push_log(conn) == 0
        with pytest.raises(ValueError):
            run_call(conn, insert_then_fail, transaction=False)  # autocommit: its insert stands
        assert count_push_log(conn) == 1
    finally:
        conn.close()


def count_push_log(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM push_log").fetchone()[0])


def test_only_what_the_daemon_can_unpickle_is_sent_as_is() -> None:
    value = {"rows": [1, 2], "error": ValueError("x")}
    assert sendable(value) is value
    refused = sendable(threading.Lock())
    assert isinstance(refused, RuntimeError)
    assert str(refused).startswith("lock: ")
