"""RELIABILITY.md's security row: loopback only by default, and no secret in the logs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from openclaw_trace.daemon import Daemon
from tests.conftest import Client
from tests.test_daemon import Process


def other_local_address() -> str | None:
    """An address of this host that is not loopback, or None (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_by_default_the_daemon_cannot_be_reached_from_another_address(daemon: Daemon, client: Client) -> None:
    assert daemon.config.host == "127.0.0.1"
    assert client.get("/health")[0] == 200
    address = other_local_address()
    if address is None:
        pytest.skip("this host has no address besides loopback")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((address, daemon.port), timeout=5):
        pass


def test_tokens_never_reach_the_log_even_at_debug_level(tmp_path: Path) -> None:
    ingest_token, push_token = "ingest-TOKEN-0a1b2c3d4e", "push-TOKEN-5f6a7b8c9d"
    proc = Process(
        tmp_path,
        {
            "OCT_LOG_LEVEL": "debug",
            "OCT_INGEST_TOKEN": ingest_token,
            "OCT_PUSH_ENDPOINT": f"http://user:pw-in-url@127.0.0.1:9/ingest?key={push_token}",
            "OCT_PUSH_TOKEN": push_token,
            "OCT_PUSH_HEADERS": f"X-Api-Key: {push_token}",
        },
    )
    try:
        client = Client(proc.wait_started())
        event = {"provider": "p", "model": "m"}
        assert client.post("/v1/traces", event, {"Authorization": f"Bearer {ingest_token}x"})[0] == 401
        assert client.post("/v1/traces", event, {"Authorization": f"Bearer {ingest_token}"})[0] == 202
        client.close()
        assert proc.stop() == 0
    finally:
        proc.close()
    log = proc.log_path.read_text()
    assert "openclaw-trace stopped" in log
    for secret in (ingest_token, push_token, "pw-in-url"):
        assert secret not in log
