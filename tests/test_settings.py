"""Settings: clear one-line errors for bad values, and secrets never printed."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bot.logging import Redactor, configure_logging
from bot.settings import SettingsError, load_settings

pytestmark = pytest.mark.kind("unit")

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "s3cr3t-signing"}


def test_defaults() -> None:
    settings = load_settings(GOOD)
    assert settings.database_url == "sqlite:///./opsbot.db"
    assert settings.api_url == "https://slack.com/api/" and settings.port == 3000


@pytest.mark.parametrize(("env", "message"), [
    ({}, "SLACK_BOT_TOKEN is not set"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
    ({**GOOD, "SLACK_BOT_TOKEN": "xoxp-user"}, "must be a bot token"),
    ({**GOOD, "PORT": "http"}, "PORT must be a number"),
    ({**GOOD, "PORT": "70000"}, "PORT must be between"),
    ({**GOOD, "SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL must be an http(s) URL"),
    ({**GOOD, "DATABASE_URL": "mysql://x/y"}, "mysql is not supported"),
    ({**GOOD, "DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
    ({**GOOD, "OPSBOT_PLAYBOOKS": "/nonexistent/folder"}, "is not a folder"),
])
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert load_settings({**GOOD, "DATABASE_URL": "postgres://u@h/db"}).database_url == "postgresql+psycopg://u@h/db"


def test_serve_with_bad_settings_prints_one_line_and_no_traceback(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "PORT": "nope",
                                 "SLACK_SIGNING_SECRET": "x"}, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "opsbot: PORT must be a number, got 'nope'"
    assert "Traceback" not in result.stdout + result.stderr


def test_settings_repr_hides_secrets() -> None:
    assert "s3cr3t" not in repr(load_settings(GOOD)) and "xoxb" not in repr(load_settings(GOOD))


def test_redactor_removes_known_secrets_and_token_shapes() -> None:
    redact = Redactor(["s3cr3t-signing"])
    assert redact("sig s3cr3t-signing tok xoxb-123-456-abc app xapp-1-A1-2") == \
        "sig [redacted] tok [redacted] app [redacted]"


def test_logs_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    configure_logging(["s3cr3t-signing"], json=True)
    try:
        structlog.get_logger("t").warning("oops", detail="secret is s3cr3t-signing", token="xoxb-9-9-zz")
        logging.getLogger("slack_bolt").warning("token xoxb-1-2-3 leaked?")
        err = capsys.readouterr().err
    finally:  # the configured stream is this test's captured stderr, closed after it: later tests must not log there
        structlog.reset_defaults()
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)
    assert "s3cr3t" not in err and "xoxb-" not in err and "[redacted]" in err


def test_unreachable_database_is_one_line(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://opsbot:hunter2@127.0.0.1:1/x"},
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("opsbot: cannot use the database at DATABASE_URL:") and "hunter2" not in line


def test_values_of_secret_like_variables_are_redacted() -> None:
    from bot.settings import load_settings

    settings = load_settings({"OPSBOT_ALERTMANAGER_TOKEN": "am-token-123", "PGPASSWORD": "pg-pass-456",
                              "OPSBOT_TICK_SECONDS": "15"}, require_slack=False)
    assert {"am-token-123", "pg-pass-456"} <= set(settings.secrets)
    assert "15" not in settings.secrets
