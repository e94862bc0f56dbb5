"""What a read can refuse, each a one-line message that names what it is about."""

from __future__ import annotations

from openclaw_trace.read.problems import BadQuery, NotFound, ReadProblem, UnusableDatabase


def test_each_problem_says_what_it_is_about_in_one_line() -> None:
    bad = BadQuery("limit", "0 is out of range: use 1 to 1000")
    missing = NotFound("trace", "abc")
    unusable = UnusableDatabase("no database at /x.db")
    assert (str(bad), bad.param) == ("limit: 0 is out of range: use 1 to 1000", "limit")
    assert (str(missing), missing.what) == ("no trace 'abc'", "trace")
    assert str(unusable) == "no database at /x.db"
    assert all(isinstance(problem, ReadProblem) for problem in (bad, missing, unusable))
