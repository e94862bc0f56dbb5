"""BooksJob through a real daemon's writer: the ingest books are kept a row at a time and read back."""

from __future__ import annotations

from openclaw_trace.daemon import Daemon
from openclaw_trace.storage.books_job import BooksJob
from tests.conftest import Client


def test_the_ingest_books_are_kept_a_row_a_minute_and_read_back_with_what_moved(daemon: Daemon, client: Client) -> None:
    job = next(component for component in daemon.components if isinstance(component, BooksJob))
    job.tick()
    assert client.post("/v1/traces", [{"provider": "p", "model": "m"}] * 3)[0] == 202
    assert daemon.writer.flush(10)
    job.tick()
    status, books = client.request("GET", "/api/v1/books?since=1h")
    assert status == 200 and len(books) == 2
    assert books[1]["received"] - books[0]["received"] == 3 == books[1]["received_delta"]
    assert books[1]["written_delta"] >= 3
    assert books[1]["dropped_by_reason"]["queue_full"] == 0
    assert (client.health()["books"]["rows"], client.health()["books"]["failures"]) == (2, 0)
