"""The errors a newcomer meets, each with its true one-line message (issue 28).

Every row runs the real command in a fresh process whose environment has no
``OCT_*`` variable but the row's, and checks the exit code, that the message
is one line (argparse's own answers: a usage line and one line), that it
holds the expected words and none of the wrong ones, and that no traceback
escaped.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openclaw_trace.daemon import Daemon
from openclaw_trace.storage import schema
from openclaw_trace.storage.connection import open_write_connection
from tests.conftest import Client


@dataclasses.dataclass(frozen=True)
class Case:
    """One command and what it must say. ``{db}``, ``{dir}`` and ``{port}`` are filled in per test."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    code: int
    words: tuple[str, ...]
    not_words: tuple[str, ...] = ()
    lines: int = 1
    stream: str = "stderr"  # where the message goes; the other stream must hold nothing of it
    prepare: Callable[[Path], None] | None = None  # makes what the case needs under the test's directory


def a_file_in_the_way(work: Path) -> None:
    (work / "afile").write_text("")


def a_directory_as_the_database(work: Path) -> None:
    (work / "adir").mkdir()


def not_a_database(work: Path) -> None:
    (work / "junk.db").write_bytes(b"not a database, not at all. " * 200)


def a_database_of_a_newer_version(work: Path) -> None:
    conn = open_write_connection(str(work / "newer.db"))
    schema.migrate(conn)
    conn.execute(f"PRAGMA user_version={schema.LATEST_VERSION + 1}")
    conn.close()


def a_database_with_nothing_to_push(work: Path) -> None:
    conn = open_write_connection(str(work / "empty.db"))
    schema.migrate(conn)
    conn.close()


def closed_port() -> int:
    """A port nothing listens on: bound and closed again (nothing else binds in these tests)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CASES = [
    # -- the database path's own problem, never "cannot listen" --
    Case(
        "database under /sys",
        ("serve",),
        {"OCT_DB_PATH": "/sys/x.db", "OCT_PORT": "0"},
        1,
        ("cannot use database /sys/x.db", "cannot create its lock file /sys/x.db.lock"),
        ("listen",),
    ),
    Case(
        "database path is a directory",
        ("serve",),
        {"OCT_DB_PATH": "{dir}/adir", "OCT_PORT": "0"},
        1,
        ("cannot use database {dir}/adir: Is a directory",),
        ("listen",),
        prepare=a_directory_as_the_database,
    ),
    Case(
        "a file where its directory must be",
        ("serve",),
        {"OCT_DB_PATH": "{dir}/afile/x.db", "OCT_PORT": "0"},
        1,
        ("cannot use database {dir}/afile/x.db: {dir}/afile is not a directory",),
        ("listen",),
        prepare=a_file_in_the_way,
    ),
    Case(
        "a directory that cannot be made",
        ("serve",),
        {"OCT_DB_PATH": "{dir}/afile/sub/x.db", "OCT_PORT": "0"},
        1,
        ("cannot use database {dir}/afile/sub/x.db: cannot create the directory {dir}/afile/sub: Not a directory",),
        ("listen",),
        prepare=a_file_in_the_way,
    ),
    Case(
        "not a database",
        ("serve",),
        {"OCT_DB_PATH": "{dir}/junk.db", "OCT_PORT": "0"},
        1,
        ("cannot use database {dir}/junk.db: file is not a database",),
        ("listen",),
        prepare=not_a_database,
    ),
    Case(
        "a database from a newer version",
        ("serve",),
        {"OCT_DB_PATH": "{dir}/newer.db", "OCT_PORT": "0"},
        1,
        ("cannot use database {dir}/newer.db: database schema version", "upgrade openclaw-trace"),
        ("listen",),
        prepare=a_database_of_a_newer_version,
    ),
    # -- the port's problem, still said as one --
    Case(
        "port in use",
        ("serve",),
        {"OCT_DB_PATH": "{db}", "OCT_PORT": "{port}"},
        1,
        ("cannot listen on 127.0.0.1:{port}: Address already in use",),
        ("database",),
    ),
    # -- the flag the user typed, the variable the user set --
    Case(
        "bad --port",
        ("serve", "--port", "abc"),
        {"OCT_DB_PATH": "{db}"},
        2,
        ("invalid --port='abc': expected a whole number from 0 to 65535",),
        ("OCT_PORT",),
    ),
    Case(
        "bad --port=",
        ("serve", "--port=70000"),
        {"OCT_DB_PATH": "{db}"},
        2,
        ("invalid --port='70000'",),
        ("OCT_PORT",),
    ),
    Case(
        "empty --db",
        ("serve", "--db", ""),
        {},
        2,
        ("invalid --db='': expected a file path",),
        ("OCT_DB_PATH", "--db-path"),
    ),
    Case(
        "secret flag's value stays hidden",
        ("serve", "--push-endpoint", "ftp://user:s3cret@host/"),
        {"OCT_DB_PATH": "{db}"},
        2,
        ("invalid --push-endpoint (value hidden", "expected an http:// or https:// URL"),
        ("s3cret", "OCT_PUSH_ENDPOINT"),
    ),
    Case(
        "bad OCT_PORT",
        ("serve",),
        {"OCT_DB_PATH": "{db}", "OCT_PORT": "abc"},
        2,
        ("invalid OCT_PORT='abc'",),
        ("--port",),
    ),
    Case(
        "misspelt variable",
        ("serve",),
        {"OCT_DB_PATH": "{db}", "OCT_PORTT": "1"},
        2,
        ("invalid OCT_PORTT", "did you mean OCT_PORT?"),
    ),
    Case(
        "unknown flag (argparse: usage and one line)",
        ("serve", "--portt", "1"),
        {"OCT_DB_PATH": "{db}"},
        2,
        ("usage: openclaw-trace", "unrecognized arguments: --portt 1"),
        lines=2,
    ),
    Case(
        "off loopback without a read token",
        ("serve",),
        {"OCT_DB_PATH": "{db}", "OCT_HOST": "0.0.0.0", "OCT_PORT": "0"},
        2,
        ("invalid OCT_HOST='0.0.0.0'", "OCT_READ_TOKEN"),
    ),
    Case(
        "prices file missing",
        ("serve",),
        {"OCT_DB_PATH": "{db}", "OCT_PORT": "0", "OCT_PRICES_FILE": "{dir}/nope.json"},
        2,
        ("invalid OCT_PRICES_FILE", "cannot read {dir}/nope.json: No such file or directory"),
        ("listen",),
    ),
    # -- push --once says what it did --
    Case(
        "push --once with nothing to send and a dead endpoint",
        ("push", "--once"),
        {"OCT_DB_PATH": "{dir}/empty.db", "OCT_PUSH_ENDPOINT": "http://127.0.0.1:{port}/hook/s3cret"},
        0,
        ("nothing to push", "http://127.0.0.1:{port}", "was not contacted"),
        ("status ok", "s3cret"),
        stream="stdout",
        prepare=a_database_with_nothing_to_push,
    ),
    Case(
        "push --once without a database",
        ("push", "--once"),
        {"OCT_DB_PATH": "{dir}/none.db", "OCT_PUSH_ENDPOINT": "http://127.0.0.1:{port}/"},
        1,
        ("no database at {dir}/none.db",),
    ),
]


def run_fresh(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real CLI in a new process, with no ``OCT_*`` variable but ``env``'s."""
    fresh = {key: value for key, value in os.environ.items() if not key.startswith("OCT_")}
    fresh.update(env)
    return subprocess.run(
        [sys.executable, "-m", "openclaw_trace", *args], env=fresh, capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def check_message(result: subprocess.CompletedProcess[str], case: Case, fill: Callable[[str], str]) -> None:
    said = getattr(result, case.stream)
    other = result.stdout if case.stream == "stderr" else result.stderr
    assert result.returncode == case.code, said + other
    lines = said.strip().splitlines()
    assert len(lines) == case.lines, said
    for word in case.words:
        assert fill(word) in said
    for word in case.not_words:
        assert fill(word) not in said
    assert "Traceback" not in said + other
    assert other.strip() == ""


@pytest.mark.skipif(sys.platform != "linux", reason="the paths and errno texts are Linux's")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_error_has_its_true_one_line_message(case: Case, tmp_path: Path, taken_port: int) -> None:
    port = taken_port if case.name == "port in use" else closed_port()
    values = {"db": str(tmp_path / "oct.db"), "dir": str(tmp_path), "port": str(port)}

    def fill(text: str) -> str:
        return text.format(**values)

    if case.prepare is not None:
        case.prepare(tmp_path)
    result = run_fresh(tuple(fill(arg) for arg in case.args), {k: fill(v) for k, v in case.env.items()})
    check_message(result, case, fill)


def test_a_second_daemon_is_told_which_daemon_holds_the_database(daemon: Daemon) -> None:
    # The in-process daemon (this test's process) holds the lock; a real second one is refused.
    result = run_fresh(("serve",), {"OCT_DB_PATH": daemon.config.db_path, "OCT_PORT": "0"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"openclaw-trace: {daemon.config.db_path} is in use by another openclaw-trace daemon (pid {os.getpid()});"
        " stop it, or choose another database with OCT_DB_PATH or --db"
    ]


def test_an_unknown_error_type_gets_a_400_listing_the_accepted_values(client: Client) -> None:
    status, answer = client.post("/v1/errors", {"error_type": "oops", "message": "m"})
    assert status == 400
    assert answer["error"] == (
        "Invalid enum value 'oops' - at `$.error_type` (accepted: llm_error, crash, system_error)"
    )


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/v1/errors",
            [{"error_type": "crash", "message": "m"}, {"error_type": "boom", "message": "m"}],
            "Invalid enum value 'boom' - at `$[1].error_type` (accepted: llm_error, crash, system_error)",
        ),
        (
            "/v1/errors",
            {"message": "m"},
            "Object missing required field `error_type` (accepted: llm_error, crash, system_error)",
        ),
        (
            "/v1/errors",
            {"error_type": "crash", "message": "m", "severity": "loud"},
            "Invalid enum value 'loud' - at `$.severity` (accepted: debug, info, warning, error, critical)",
        ),
        (
            "/v1/traces",
            {"provider": "p", "model": "m", "status": "maybe"},
            "Invalid enum value 'maybe' - at `$.status` (accepted: ok, error)",
        ),
        # A field with no fixed set keeps msgspec's message as it was.
        ("/v1/traces", {"provider": "p", "model": "m", "prompt_tokens": "ten"}, None),
    ],
)
def test_every_field_with_a_fixed_set_names_it_in_its_400(
    client: Client, path: str, body: Any, expected: str | None
) -> None:
    status, answer = client.post(path, body)
    assert status == 400
    if expected is None:
        assert "accepted" not in answer["error"]
        assert "$.prompt_tokens" in answer["error"]
    else:
        assert answer["error"] == expected
