"""What a read can refuse: a bad parameter (CLI exit 2, HTTP 400), something not found
(exit 2, 404), or a database that cannot be read (exit 2, 503 from the daemon)."""

from __future__ import annotations


class ReadProblem(Exception):
    """Base of the read layer's expected failures; ``str()`` is one line for the user."""


class BadQuery(ReadProblem):
    """A parameter the read layer cannot use; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


class NotFound(ReadProblem):
    """No trace or session with that id."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"no {what} {key!r}")
        self.what = what


class UnusableDatabase(ReadProblem):
    """The database is missing, not ours, from a newer openclaw-trace, or took too long to answer."""
