"""Known secrets come out of text, everything else stays as it was."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclaw_trace.scrub import REDACTED, scrub_row, scrub_text

# Fake keys in each known shape (none is a real credential).
PLANTED = {
    "openai": "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t",
    "anthropic": "sk-ant-api03-" + "x" * 40,
    "stripe": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google": "AIza" + "SyA-1234567890abcdefghijklmnopqrstu",
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "github": "ghp_" + "a" * 36,
    "github_pat": "github_pat_" + "11ABCDEFG0123456789_abcdefghij",
    "slack": "xoxb-" + "1234567890-abcdefghij",
    "slack_app": "xapp-1-" + "A0123456789-abcdefghij",
    "huggingface": "hf_" + "abcdefghijklmnopqrstuvwxyz012345",
    "groq": "gsk_" + "abcdefghijklmnopqrstuvwxyz012345",
    "xai": "xai-" + "abcdefghijklmnopqrstuvwxyz012345",
    "telegram": "123456789:AA" + "Fq2sXb1EwVf3hJk4LmN5pQr6StU7vWx8Y",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc==\n-----END RSA PRIVATE KEY-----",
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_each_known_shape_is_redacted_and_the_text_around_it_kept(kind: str) -> None:
    text = f"config says key={PLANTED[kind]} and more."
    scrubbed, count = scrub_text(text)
    assert PLANTED[kind] not in scrubbed
    assert scrubbed == f"config says key={REDACTED} and more."
    assert count == 1


def test_a_telegram_token_in_its_api_url_is_redacted() -> None:
    url = f"https://api.telegram.org/bot{PLANTED['telegram']}/sendMessage"
    assert scrub_text(url) == (f"https://api.telegram.org/bot{REDACTED}/sendMessage", 1)


def test_a_private_key_cut_before_its_end_line_is_redacted_as_far_as_it_goes() -> None:
    cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAgEAx2"
    assert scrub_text(f"key: {cut}") == (f"key: {REDACTED}", 1)
    assert json.loads(scrub_text(json.dumps({"k": cut + '\u00e9 "q"'}))[0]) == {"k": f'{REDACTED}\u00e9 "q"'}


def test_a_key_right_after_a_json_escape_is_found_and_the_escape_kept() -> None:
    encoded = msgspec.json.encode({"h": f"line\nBearer {PLANTED['jwt']}\n{PLANTED['openai']}"}).decode()
    scrubbed, count = scrub_text(encoded)
    assert json.loads(scrubbed) == {"h": f"line\nBearer {REDACTED}\n{REDACTED}"}
    assert count == 2


def test_a_bearer_token_goes_and_the_word_stays() -> None:
    scrubbed, count = scrub_text("curl -H 'Authorization: Bearer abc.DEF-123_456~789/xyz=' https://x")
    assert scrubbed == f"curl -H 'Authorization: Bearer {REDACTED}' https://x"
    assert count == 1


@pytest.mark.parametrize(
    "text",
    [
        "a task-force of sk-short",  # "sk-" inside a word, and too short
        "ask-0123456789abcdefghijklmnop",  # a word ending in "sk" is not a key's start
        "the bearer of bad news",  # no token after the word
        "AKIAshort and ghp_tooshort",
        "telegram 12:AAbc",
        "plain prose with nothing secret in it, high through thought",
    ],
)
def test_near_misses_are_left_alone(text: str) -> None:
    assert scrub_text(text) == (text, 0)


def test_a_row_without_secrets_comes_back_as_the_same_object() -> None:
    values = ("openai", "gpt-4o", "hello", None, 12, 0.5, '{"a": 1}')
    scrubbed, count = scrub_row(values)
    assert scrubbed is values
    assert count == 0


def test_a_row_is_scrubbed_in_every_text_value_and_nothing_else() -> None:
    values = ("openai", f"in {PLANTED['openai']}", 7, f"out {PLANTED['aws']}", None)
    scrubbed, count = scrub_row(values)
    assert scrubbed == ("openai", f"in {REDACTED}", 7, f"out {REDACTED}", None)
    assert count == 2


_secrets = st.sampled_from(sorted(PLANTED.values()))
_plain = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
_separators = st.sampled_from([" ", "\n", "=", ": ", "\t", '"'])
# A secret set off from its neighbours, as pasted config, headers and logs have them.
_separated = st.tuples(_plain, _separators, _secrets, _separators, _plain).map("".join)
# A secret glued to arbitrary text: need not be found, must not break anything. Also a key
# without its first letter behind a control character, whose JSON escape (\r, \u0001 …)
# then ends in what looks like that letter.
_escapes = st.sampled_from(["\r", "\n", "\t", "\b", "\f", "\x01", "\x1b", "\\", '"', "\u00c0"])
_glued = st.one_of(
    st.tuples(_plain, _secrets, _plain).map("".join),
    st.tuples(_plain, _escapes, _secrets.map(lambda secret: secret[1:]), _plain).map("".join),
)


@given(st.dictionaries(_plain, st.one_of(_plain, _glued), max_size=6))
def test_scrubbed_metadata_json_is_still_the_same_json_object(metadata: dict[str, str]) -> None:
    scrubbed, _ = scrub_text(json.dumps(metadata))
    assert list(json.loads(scrubbed)) == list(metadata)
    scrubbed, _ = scrub_text(msgspec.json.encode(metadata).decode())  # as the daemon stores it
    assert list(json.loads(scrubbed)) == list(metadata)


@given(st.lists(_separated, min_size=1, max_size=3))
def test_a_secret_set_off_by_a_separator_never_survives(parts: list[str]) -> None:
    text = " ".join(parts)
    for form in (text, json.dumps({"k": text}), msgspec.json.encode({"k": text}).decode()):
        scrubbed, count = scrub_text(form)
        assert not any(secret in scrubbed for secret in PLANTED.values()), form
        assert count >= len(parts)
