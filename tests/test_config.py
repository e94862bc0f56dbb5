"""The settings table: parsing, refusal of bad values, and the generated docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from openclaw_trace.config import SETTINGS, Config, ConfigError, load_config, settings_markdown
from openclaw_trace.config_types import endpoint_label


def test_defaults_with_an_empty_environment() -> None:
    config = load_config({})
    assert (config.host, config.port) == ("127.0.0.1", 9090)
    assert config.max_text_bytes == 16384
    assert config.max_body_bytes == 1024 * 1024
    assert config.log_level == "info"
    assert config.db_path.endswith("openclaw-trace.db")
    assert config == Config(db_path=config.db_path)


def test_environment_then_flags() -> None:
    config = load_config({"OCT_PORT": "9999", "OCT_HOST": "::1"}, {"OCT_PORT": "7000"})
    assert (config.host, config.port) == ("::1", 7000)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"OCT_PORT": "abc"}, "invalid OCT_PORT='abc': expected a whole number from 0 to 65535"),
        ({"OCT_PORT": "70000"}, "OCT_PORT"),
        ({"OCT_MAX_TEXT_BYTES": "lots"}, "OCT_MAX_TEXT_BYTES"),
        ({"OCT_MAX_BODY_BYTES": "1TB"}, "OCT_MAX_BODY_BYTES"),
        ({"OCT_LOG_LEVEL": "loud"}, "expected one of debug, info, warning, error"),
        ({"OCT_SCRUB_SECRETS": "maybe"}, "invalid OCT_SCRUB_SECRETS='maybe': expected true or false"),
        ({"OCT_SHUTDOWN_TIMEOUT": "5 parsecs"}, "expected a duration"),
        ({"OCT_SHUTDOWN_TIMEOUT": "0s"}, "above zero"),
        ({"OCT_DB_PATH": "  "}, "OCT_DB_PATH"),
        ({"OCT_HOST": "a b"}, "OCT_HOST"),
        (
            {"OCT_PROT": "9090"},
            "invalid OCT_PROT (value hidden, 4 characters): unknown setting; did you mean OCT_PORT?",
        ),
        # The pusher's own parser decides: a CR in a value used to pass here and fail at start.
        ({"OCT_PUSH_HEADERS": "X-A: a\rb"}, "OCT_PUSH_HEADERS"),
    ],
)
def test_bad_values_are_refused_with_one_line(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message


def test_an_unknown_setting_without_a_close_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"invalid OCT_ZZZZZZZ \(value hidden, 1 character\): unknown setting; known: OCT_HOST"
    ):
        load_config({"OCT_ZZZZZZZ": "1"})


def test_other_variables_are_ignored() -> None:
    assert load_config({"PATH": "/bin", "OCTOPUS": "1"}).port == 9090


def test_secrets_are_masked() -> None:
    shown = load_config({"OCT_INGEST_TOKEN": "hunter2"}).masked()
    assert shown["ingest_token"] == "***"
    assert "hunter2" not in str(shown)


def test_push_endpoint_credentials_and_path_stay_out_of_the_log() -> None:
    endpoint = "https://user:pw@hooks.example:8443/services/T0123/B0456/XyZsecret?k=v"
    shown = load_config({"OCT_PUSH_ENDPOINT": endpoint}).masked()
    assert shown["push_endpoint"] == endpoint_label(endpoint)
    assert str(shown["push_endpoint"]).startswith("https://hooks.example:8443/…#")
    assert "XyZsecret" not in str(shown)


@pytest.mark.parametrize(
    "env",
    [
        {"OCT_PUSH_HEADERS": "X-Team: a, Authorization Bearer SECRET-1"},  # a pair without its colon
        {"OCT_PUSH_TOKNE": "SECRET-1"},  # a mistyped secret setting
        {"OCT_INGEST_TOKEN": "SECRET-1", "OCT_READ_TOKNE": "SECRET-1"},
        {"OCT_PUSH_ENDPOINT": "hooks.example/services/SECRET-1"},  # no scheme
    ],
)
def test_config_errors_never_show_a_secret_or_unknown_value(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert "SECRET-1" not in str(caught.value)
    assert "value hidden" in str(caught.value)


def test_docs_show_the_settings_table_as_it_is() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    assert settings_markdown() in doc, (
        "regenerate: python -c 'from openclaw_trace.config import *; print(settings_markdown())'"
    )
    assert all(f"`{setting.env_var}`" in doc for setting in SETTINGS)
