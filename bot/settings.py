"""Settings from the environment (the README's table). Bad values stop start-up with one line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///./opsbot.db"


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


@dataclass(frozen=True)
class Settings:
    bot_token: str | None
    signing_secret: str | None
    app_token: str | None
    api_url: str
    database_url: str
    playbooks_dir: Path | None
    port: int
    tick_seconds: float = 15.0
    secrets: tuple[str, ...] = field(default=(), repr=False)
    docker_host: str = "unix:///var/run/docker.sock"
    reports_token: str | None = field(default=None, repr=False)
    """Bearer token of ``GET /reports/incidents.csv`` and ``.json``; None: the export is off (404)."""
    slack_timeout: float = 10.0
    """Seconds each HTTP request to Slack may take (bot.slack.gateway)."""
    stall_seconds: float = 120.0
    """A scheduler piece running longer than this is stalled: logged, and /healthz answers 503."""

    def __repr__(self) -> str:  # never print tokens
        return f"Settings(api_url={self.api_url!r}, database={self.database_url.split('://')[0]}, port={self.port})"


def load_settings(env: Mapping[str, str] | None = None, *, require_slack: bool = True,
                  socket_mode: bool = False) -> Settings:
    env = os.environ if env is None else env
    bot_token = env.get("SLACK_BOT_TOKEN") or None
    signing_secret = env.get("SLACK_SIGNING_SECRET") or None
    app_token = env.get("SLACK_APP_TOKEN") or None
    if require_slack:
        if not bot_token:
            raise SettingsError("SLACK_BOT_TOKEN is not set (run `opsbot sandbox` to try the bot without Slack)")
        if not socket_mode and not signing_secret:
            raise SettingsError("SLACK_SIGNING_SECRET is not set (HTTP mode verifies every request with it)")
        if socket_mode and not app_token:
            raise SettingsError("SLACK_APP_TOKEN is not set (Socket Mode needs an xapp- token)")
    if bot_token and not bot_token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    if app_token and not app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")

    api_url = env.get("SLACK_API_URL") or DEFAULT_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL, got {api_url!r}")
    if not api_url.endswith("/"):
        api_url += "/"

    database_url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    database_url = _normalise_database_url(database_url)

    playbooks = env.get("OPSBOT_PLAYBOOKS") or None
    playbooks_dir = Path(playbooks) if playbooks else None
    if playbooks_dir is not None and not playbooks_dir.is_dir():
        raise SettingsError(f"OPSBOT_PLAYBOOKS={playbooks} is not a folder")

    port = _number(env, "PORT", "3000", int, 1, 65535)
    tick = _number(env, "OPSBOT_TICK_SECONDS", "15", float, 0.05, 3600)
    secrets = tuple(s for s in (bot_token, signing_secret, app_token, *_secret_like(env)) if s)
    docker_host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not docker_host.startswith(("unix://", "tcp://", "http://", "https://", "ssh://")):
        raise SettingsError(f"DOCKER_HOST must be a unix://, tcp:// or ssh:// address, got {docker_host!r}")
    reports_token = env.get("OPSBOT_REPORTS_TOKEN") or None
    if reports_token is not None and len(reports_token) < 16:
        raise SettingsError("OPSBOT_REPORTS_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 32`)")
    # at most 15 s: a whole call (bot.slack.gateway.call_bound, 53 s then) stays within an outbox claim (60 s)
    slack_timeout = _number(env, "OPSBOT_SLACK_TIMEOUT_SECONDS", "10", float, 1, 15)
    stall = _number(env, "OPSBOT_STALL_SECONDS", "120", float, 1, 86400)
    return Settings(bot_token, signing_secret, app_token, api_url, database_url, playbooks_dir,
                    int(port), float(tick), secrets, docker_host, reports_token, float(slack_timeout), float(stall))


def _secret_like(env: Mapping[str, str]) -> list[str]:
    """Values of variables named like secrets (webhook tokens, HMAC secrets, database passwords):
    redacted from logs, run output and messages like the Slack tokens."""
    marks = ("TOKEN", "SECRET", "PASSWORD", "ROUTING_KEY", "API_KEY")
    return [value for name, value in env.items() if any(mark in name.upper() for mark in marks) and len(value) >= 6]


def _number(env: Mapping[str, str], name: str, default: str, kind: type, low: float, high: float) -> float:
    raw = env.get(name) or default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def _normalise_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError("DATABASE_URL is not a database URL (e.g. sqlite:///./opsbot.db)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingsError(f"DATABASE_URL: {parsed.get_backend_name()} is not supported; use sqlite or postgresql")
    return url
