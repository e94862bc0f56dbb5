"""Shared fixtures: a real daemon on 127.0.0.1:0 over a real SQLite file in tmp_path."""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from openclaw_trace.config import Config
from openclaw_trace.daemon import Daemon
from openclaw_trace.storage.connection import open_read_connection


class Client:
    """A keep-alive HTTP client for one daemon; answers (status, parsed JSON or text)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.last_headers: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        self._conn.request(method, path, body=body, headers=headers or {})
        response = self._conn.getresponse()
        raw = response.read()
        self.last_headers = {name.lower(): value for name, value in response.getheaders()}
        if response.getheader("connection", "").lower() == "close":
            self._conn.close()
        kind = response.getheader("content-type", "")
        if kind.startswith("application/json"):
            return response.status, json.loads(raw)
        return response.status, raw.decode() if kind.startswith("text/") else raw

    def post(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def health(self) -> dict[str, Any]:
        status, report = self.get("/health")
        assert status == 200
        assert isinstance(report, dict)
        return report

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def db_path(tmp_path: Any) -> str:
    return str(tmp_path / "data" / "oct.db")


@pytest.fixture
def make_daemon(db_path: str) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(**settings: Any) -> Daemon:
        settings.setdefault("db_path", db_path)
        daemon = Daemon(Config(host="127.0.0.1", port=0, **settings))
        daemon.start()
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    return make_daemon()


@pytest.fixture
def connect() -> Iterator[Callable[[Daemon], Client]]:
    """Make clients for daemons started in the test; closed at teardown."""
    clients: list[Client] = []

    def make(daemon: Daemon) -> Client:
        clients.append(Client(daemon.port))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(daemon: Daemon, connect: Callable[[Daemon], Client]) -> Client:
    return connect(daemon)


def rows(db_path: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a read-only query, as dicts."""
    conn = open_read_connection(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()
