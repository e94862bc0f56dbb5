"""The command line's shape: one spelling of the database flag on every command that takes one."""

from __future__ import annotations

import pytest

from openclaw_trace.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--db", "/x/a.db"],
        ["serve", "--db-path", "/x/a.db"],
        ["summary", "--db", "/x/a.db"],
        ["metrics", "--db", "/x/a.db"],
        ["mcp", "--db", "/x/a.db"],
        ["push", "--status", "--db", "/x/a.db"],
    ],
)
def test_every_command_that_opens_the_database_takes_db(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert "/x/a.db" in vars(args).values()
