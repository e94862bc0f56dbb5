"""Secrets taken out of stored text: API keys, bearer tokens, private keys.

An agent's prompts, tool output, error messages and logs carry credentials
more often than anyone means them to (a pasted ``.env``, a failing request
echoed with its headers). With ``OCT_SCRUB_SECRETS`` on, the writer passes
every text value of every row through ``scrub_row`` before it is stored, so
neither the database nor what is pushed from it holds them. Off the 202
path on purpose: the agent never waits for it.

Each rule is a literal *marker* that every match contains and a pattern for
the whole secret. Python's ``re`` tries every alternative at every position
(~200 µs per KB for all rules at once, measured), while ``in`` on a str is a
fast substring search, so a row is first searched for the markers and only
the rules whose marker occurs run their pattern. No match begins after a
backslash, and none holds a double quote or a backslash other than a JSON
``\n``/``\r``/``\t`` escape whole, so a JSON value (``metadata``) stays
valid JSON: a replacement never cuts an escape or crosses a string's end.

Known formats only: a key with no recognisable shape (a bare 32-character
hex string) is indistinguishable from an id and is left alone.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

REDACTED = "[REDACTED]"


class Rule(NamedTuple):
    name: str
    markers: tuple[str, ...]  # every match contains one of these
    pattern: re.Pattern[str]
    keep_group: int = 0  # a group kept in front of the replacement ("Bearer "), 0: none


def _rule(name: str, markers: tuple[str, ...], pattern: str, keep_group: int = 0) -> Rule:
    return Rule(name, markers, re.compile(pattern), keep_group)


_KEY_CHARS = r"[A-Za-z0-9_\-]"
# Where a key may begin: not inside a word ("task-…" holds no "sk-" key) and not right after a
# backslash, so no match can begin inside a JSON escape (the "r" of \r, the hex of \uXXXX);
# but right after a JSON \n, \t … escape, where pasted keys often sit.
_AFTER_ESCAPE = r"(?<=\\[nrtbf])"
_START = rf"(?:(?<![A-Za-z0-9\\])|{_AFTER_ESCAPE})"
# JWT segments hold "_" and "-" too: never begin after one (a run of "-eyJ" would otherwise
# try every position against the rest of the text).
_JWT_START = rf"(?:(?<![A-Za-z0-9\\_\-])|{_AFTER_ESCAPE})"
# A Telegram token follows "bot" in its API URL, so letters may precede it; hex digits may
# not (they could be a \uXXXX escape's).
_TELEGRAM_START = rf"(?:(?<![0-9A-Fa-f\\])|{_AFTER_ESCAPE})"
# Possessive quantifiers (++, {m,n}+) never give back what they took: no rule backtracks,
# so hostile text costs linear time. Each class stops before a backslash or a quote.
RULES: tuple[Rule, ...] = (
    # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-), DeepSeek and most OpenAI-compatible hosts.
    _rule("sk", ("sk-",), rf"{_START}sk-{_KEY_CHARS}{{20,}}+"),
    _rule("stripe", ("k_live_", "k_test_"), rf"{_START}[rs]k_(?:live|test)_[A-Za-z0-9]{{16,}}+"),
    _rule("google", ("AIza",), rf"{_START}AIza{_KEY_CHARS}{{35}}"),
    _rule("aws", ("AKIA", "ASIA"), rf"{_START}(?:AKIA|ASIA)[A-Z0-9]{{16}}(?![A-Za-z0-9])"),
    _rule("github", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), rf"{_START}gh[pousr]_[A-Za-z0-9]{{36,}}+"),
    _rule("github", ("github_pat_",), rf"{_START}github_pat_[A-Za-z0-9_]{{22,}}+"),
    _rule("slack", ("xox", "xapp-"), rf"{_START}(?:xox[abposr]|xapp-[0-9])-[A-Za-z0-9\-]{{10,}}+"),
    _rule("huggingface", ("hf_",), rf"{_START}hf_[A-Za-z0-9]{{30,}}+"),
    _rule("groq", ("gsk_",), rf"{_START}gsk_[A-Za-z0-9]{{30,}}+"),
    _rule("xai", ("xai-",), rf"{_START}xai-[A-Za-z0-9]{{30,}}+"),
    # Telegram bot tokens: <bot id>:<35 characters starting with AA>.
    _rule("telegram", (":AA",), rf"{_TELEGRAM_START}[0-9]{{8,10}}:AA{_KEY_CHARS}{{33}}(?![A-Za-z0-9_\-])"),
    _rule("jwt", ("eyJ",), rf"{_JWT_START}eyJ{_KEY_CHARS}{{8,}}+\.eyJ{_KEY_CHARS}{{8,}}+\.{_KEY_CHARS}{{8,}}+"),
    # "Authorization: Bearer <token>" as logged or pasted; the word stays, the token goes.
    _rule(
        "bearer",
        ("earer", "EARER"),
        rf"({_START}(?i:bearer)[ \t]++)[A-Za-z0-9._~+/=\-]{{16,}}+",
        keep_group=1,
    ),
    # A PEM private key to its END line, or as far as its body goes when the END was cut off
    # (by OCT_MAX_TEXT_BYTES, say). The body may hold JSON's \n escapes, never a lone backslash.
    _rule(
        "private_key",
        ("PRIVATE KEY",),
        r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----"
        r"(?:(?!-----END )[A-Za-z0-9+/=\s:,.\-]|\\[nrt])*+"
        r"(?:-----END [A-Z ]{0,40}PRIVATE KEY-----)?",
    ),
)
_ALL_MARKERS = tuple((marker, rule) for rule in RULES for marker in rule.markers)


def _replace(rule: Rule, text: str) -> tuple[str, int]:
    if rule.keep_group:
        return rule.pattern.subn(lambda match: match.group(rule.keep_group) + REDACTED, text)
    return rule.pattern.subn(REDACTED, text)


def scrub_text(text: str) -> tuple[str, int]:
    """``text`` with every known secret replaced by ``[REDACTED]``; and how many were."""
    found = 0
    for rule in _rules_marked_in(text):
        text, count = _replace(rule, text)
        found += count
    return text, found


def _rules_marked_in(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for marker, rule in _ALL_MARKERS:
        if marker in text and rule not in rules:
            rules.append(rule)
    return rules


def scrub_row(values: tuple[Any, ...]) -> tuple[tuple[Any, ...], int]:
    """A row's values with secrets taken out of every str among them; and how many were.

    The markers are looked for once in all the row's text together (a
    separator no marker contains keeps values apart); a row without any,
    nearly every row, comes back as it was, untouched.
    """
    texts = [value for value in values if type(value) is str]
    if not texts or not _rules_marked_in("\x00".join(texts)):
        return values, 0
    scrubbed: list[Any] = []
    found = 0
    for value in values:
        if type(value) is str:
            value, count = scrub_text(value)
            found += count
        scrubbed.append(value)
    return tuple(scrubbed), found
