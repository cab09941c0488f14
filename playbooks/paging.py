"""``paging.yaml``: paging beyond Slack. Each escalation notification also reaches the people of
the level through their contact methods (e-mail, ntfy push, SMS through Twilio), in the order and
with the delays set here or by each person (``/oncall contact add``), until one of them
acknowledges (docs/paging.md).

Passwords and tokens never live in the YAML (docs/architecture.md, "Secrets stay secret"): each
service names the environment variables that hold them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from playbooks.common import PackModel
from playbooks.durations import Duration

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_URL = r"^https?://[^\s/]+(/[^\s]*)?$"
Kind = Literal["email", "ntfy", "sms"]
KINDS: tuple[Kind, ...] = ("email", "ntfy", "sms")


class MethodDefault(PackModel):
    kind: Kind
    after: Duration = timedelta(0)
    """How long after the escalation this kind of contact is paged, unless the person says otherwise."""


class EmailSettings(PackModel):
    """An SMTP submission server: STARTTLS, then authentication (smtplib)."""

    host: str | None = None
    """None: e-mail paging is off (``/oncall contact add email`` says so)."""
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ca_file: str | None = None
    """A CA certificate (PEM) to trust for the server besides the system's, for a private CA."""
    sender: str = Field("opsbot@example.com", pattern=r"^[^@\s]+@[^@\s]+$")
    username_env: str = Field("OPSBOT_SMTP_USERNAME", pattern=_ENV_NAME)
    password_env: str = Field("OPSBOT_SMTP_PASSWORD", pattern=_ENV_NAME)


class NtfySettings(PackModel):
    """An ntfy server (ntfy.sh or your own): one HTTP POST per page to the person's topic."""

    server: str | None = Field("https://ntfy.sh", pattern=_URL)
    token_env: str = Field("OPSBOT_NTFY_TOKEN", pattern=_ENV_NAME)
    """An access token, sent as ``Authorization: Bearer``; unset: publish without one."""
    priority: int = Field(5, ge=1, le=5)


class SmsSettings(PackModel):
    """Twilio's Programmable Messaging REST API."""

    sender: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")
    """The Twilio number messages come from (E.164); None: SMS paging is off."""
    api_url: str = Field("https://api.twilio.com", pattern=_URL)
    account_sid_env: str = Field("TWILIO_ACCOUNT_SID", pattern=_ENV_NAME)
    auth_token_env: str = Field("TWILIO_AUTH_TOKEN", pattern=_ENV_NAME)


class RetrySettings(PackModel):
    attempts: int = Field(5, ge=1, le=20)
    """Tries per contact method and page before it is reported as given up."""
    first: Duration = timedelta(seconds=30)
    """The pause after the first failure; it doubles after each one, up to ``longest``."""
    longest: Duration = timedelta(minutes=10)


class PagingSettings(PackModel):
    """The whole of ``paging.yaml``; every key has a default, so the file may be left out."""

    methods: tuple[MethodDefault, ...] = (MethodDefault(kind="ntfy"), MethodDefault(kind="email"),
                                          MethodDefault(kind="sms", after=timedelta(minutes=5)))
    """The default delay of each kind, and the order of a person's contacts paged at the same time."""
    repeat_every: Duration = timedelta(minutes=10)
    """Pages repeat at this interval until acknowledged, unless the escalation level sets its own."""
    link_valid_for: Duration = timedelta(hours=24)
    public_url: str | None = Field(None, pattern=_URL)
    """Where people's phones reach the bot, for acknowledge links; None: ``http://127.0.0.1:$PORT``."""
    secret_env: str = Field("OPSBOT_PAGING_SECRET", pattern=_ENV_NAME)
    """Signs acknowledge links; unset: a key derived from the Slack signing secret."""
    email: EmailSettings = EmailSettings()
    ntfy: NtfySettings = NtfySettings()
    sms: SmsSettings = SmsSettings()
    retry: RetrySettings = RetrySettings()

    @field_validator("methods")
    @classmethod
    def _each_once(cls, value: tuple[MethodDefault, ...]) -> tuple[MethodDefault, ...]:
        kinds = [m.kind for m in value]
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise ValueError(f"{twice[0]} is listed twice; name each kind once")
        missing = [k for k in KINDS if k not in kinds]
        if missing:
            raise ValueError(f"{', '.join(missing)} missing; list each of {', '.join(KINDS)} once")
        return value

    def default_after(self, kind: str) -> timedelta:
        return next((m.after for m in self.methods if m.kind == kind), timedelta(0))

    def rank(self, kind: str) -> int:
        return next((i for i, m in enumerate(self.methods) if m.kind == kind), len(self.methods))
