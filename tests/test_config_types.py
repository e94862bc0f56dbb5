"""The setting parsers on their own: text in, a typed value out, or a ValueError saying what is accepted."""

from __future__ import annotations

import pwd

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.config_types import (
    endpoint_label,
    int_range,
    one_of,
    parse_bool,
    parse_duration_s,
    parse_headers,
    parse_percent,
    parse_size_bytes,
    parse_text,
    positive,
    size_range,
    user_uid,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("15s", 15), ("15", 15), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [("16384", 16384), ("64KiB", 65536), ("1MiB", 1048576), ("50MB", 50_000_000), ("1 mib", 1048576)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("text", ["80", "80%", " 80 % "])
def test_percent(text: str) -> None:
    assert parse_percent(text) == 80.0


@pytest.mark.parametrize("text", ["", "-1s", "5 parsecs", "1e3s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_s(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("Yes", True),
        (" on ", True),
        ("1", True),
        ("false", False),
        ("OFF", False),
        ("no", False),
        ("0", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["", "12 parsecs", "1e3", "-5", "1.5 TiB", "KiB"])
def test_bad_sizes_say_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size such as 16384, 64KiB, 1MiB or 50MB"):
        parse_size_bytes(text)


@pytest.mark.parametrize("text", ["-1", "100.5", "101%", "nan", "inf", "eighty"])
def test_a_percentage_is_from_0_to_100(text: str) -> None:
    with pytest.raises(ValueError, match="expected a percentage from 0 to 100"):
        parse_percent(text)


@pytest.mark.parametrize("text", ["", "maybe", "2", "yes please"])
def test_bad_booleans_list_the_words_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected true or false \(also 1/0, yes/no, on/off\)"):
        parse_bool(text)


def test_whole_numbers_within_bounds() -> None:
    port = int_range(0, 65535)
    assert (port(" 0 "), port("65535")) == (0, 65535)
    for text in ("-1", "65536", "80.0", "0x50", "eighty", ""):
        with pytest.raises(ValueError, match="expected a whole number from 0 to 65535"):
            port(text)


def test_positive_refuses_zero_and_what_the_inner_parser_refuses() -> None:
    timeout = positive(parse_duration_s)
    assert timeout("250ms") == 0.25
    with pytest.raises(ValueError, match="above zero"):
        timeout("0s")
    with pytest.raises(ValueError, match="expected a duration"):
        timeout("soon")


def test_sizes_within_bounds_name_the_bounds_in_bytes() -> None:
    body = size_range(1024, 16 << 20)
    assert body("1KiB") == 1024
    assert body("16MiB") == 16 << 20
    with pytest.raises(ValueError, match="expected a size from 1024 to 16777216 bytes"):
        body("1000")
    with pytest.raises(ValueError, match="expected a size such as"):
        body("big")


def test_a_choice_is_taken_in_any_case_and_given_back_in_lower_case() -> None:
    level = one_of("debug", "info")
    assert level(" INFO ") == "info"
    with pytest.raises(ValueError, match="expected one of debug, info"):
        level("loud")
    assert parse_text("  /var/lib/oct.db \n") == "/var/lib/oct.db"


def test_headers_by_commas_or_lines_keep_colons_in_their_values() -> None:
    text = "Authorization: Bearer a:b:c,\nX-Team:  blue \n\n, X-Empty:"
    assert parse_headers(text) == {"Authorization": "Bearer a:b:c", "X-Team": "blue", "X-Empty": ""}
    assert parse_headers("") == {}


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("X-A: 1, Authorization Bearer SECRET", "header pair 2 of 2"),  # no colon
        (": SECRET", "header pair 1 of 1"),  # no name
        ("X Team: SECRET", "header pair 1 of 1"),  # a space in the name
        ("X-A: SECRET\rX-B: 2", "header pair 1 of 1"),  # a CR would split the request's headers
    ],
)
def test_a_bad_header_pair_is_named_by_its_place_never_its_text(text: str, place: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_headers(text)
    assert str(refused.value).startswith(place)
    assert "SECRET" not in str(refused.value)


def test_a_user_by_name_or_number() -> None:
    assert user_uid(" 1234 ") == 1234
    root = pwd.getpwuid(0).pw_name
    assert user_uid(root) == 0
    with pytest.raises(ValueError, match="expected the name or uid of a user of this machine"):
        user_uid("no-such-user-here")


@pytest.mark.parametrize(
    ("endpoint", "label"),
    [
        ("https://collector.example", "https://collector.example:443"),
        ("http://127.0.0.1:4318/", "http://127.0.0.1:4318"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
        ("http://collector.example:notaport", "http://collector.example"),
    ],
)
def test_an_endpoint_without_anything_secret_is_shown_whole(endpoint: str, label: str) -> None:
    assert endpoint_label(endpoint) == label


def test_an_endpoints_path_query_and_credentials_are_hashed_and_still_tell_two_apart() -> None:
    slack = endpoint_label("https://hooks.slack.com/services/T0/B0/secret-one")
    assert slack.startswith("https://hooks.slack.com:443/…#")
    assert len(slack.rsplit("#", 1)[1]) == 8
    assert slack == endpoint_label("https://hooks.slack.com/services/T0/B0/secret-one/")  # a trailing / is the same
    assert slack != endpoint_label("https://hooks.slack.com/services/T0/B0/secret-two")
    with_user = endpoint_label("https://user:pw@collector.example/v1/traces")
    assert with_user.startswith("https://collector.example:443/…#")
    assert with_user != endpoint_label("https://collector.example/v1/traces")


@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=40),
    where=st.sampled_from(["https://{s}@h.example/x", "https://h.example/{s}", "https://h.example/?k={s}",
                           "https://h.example/#{s}", "https://u:{s}@h.example:8443"]),
)  # fmt: skip
def test_a_secret_anywhere_but_the_host_never_shows(secret: str, where: str) -> None:
    label = endpoint_label(where.format(s=secret))
    assert secret not in label
    assert label.startswith("https://h.example:")
