"""The three ways a page leaves the bot besides Slack, each configured in ``paging.yaml`` with its
secrets from the environment (docs/paging.md):

* e-mail through an SMTP submission server: STARTTLS (certificate checked), then AUTH (smtplib);
* push through an ntfy server: ``POST <server>/<topic>`` with the text as body and the ``Title``,
  ``Priority``, ``Tags``, ``Click`` and ``Actions`` headers (docs.ntfy.sh/publish), an access token
  as ``Authorization: Bearer``;
* SMS through Twilio: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, basic auth with the
  Account SID and auth token, form fields ``To``, ``From``, ``Body``.

A send that does not go through raises ``SendFailed`` with what the server said, never a secret;
the delivery tries it again later (``bot.paging.delivery``).
"""

from __future__ import annotations

import base64
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import structlog

from playbooks.paging import EmailSettings, NtfySettings, PagingSettings, SmsSettings

log = structlog.get_logger(__name__)
TIMEOUT_SECONDS = 10.0
USER_AGENT = "opsbot (paging)"


@dataclass(frozen=True)
class PageMessage:
    title: str  # "INC-0007 P1 - High: Checkout is failing"
    text: str  # what happened and what to do, without the link
    ack_url: str
    short: str = ""  # the gist for an SMS, where every 160 characters cost: "Escalation level 2: …"


class SendFailed(Exception):
    """Not sent (or not known to be): the server refused, failed or did not answer."""


class Sender(Protocol):
    def send(self, address: str, page: PageMessage) -> None: ...


class EmailSender:
    def __init__(self, config: EmailSettings, username: str | None, password: str | None) -> None:
        assert config.host is not None
        self._config, self._host = config, config.host
        self._login = (username, password) if username and password else None
        self._tls = ssl.create_default_context()
        if config.ca_file:
            self._tls.load_verify_locations(cafile=config.ca_file)

    def send(self, address: str, page: PageMessage) -> None:
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = f"[opsbot] {page.title}", self._config.sender, address
        mail["Date"], mail["Message-ID"] = formatdate(localtime=False), make_msgid(domain="opsbot")
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(f"{page.text}\n\nAcknowledge (stops the repeat pages): {page.ack_url}\n")
        try:
            with smtplib.SMTP(self._host, self._config.port, timeout=TIMEOUT_SECONDS) as smtp:
                smtp.ehlo()
                if self._config.starttls:
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                if self._login:
                    smtp.login(*self._login)
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise SendFailed(f"SMTP {self._host}: {exc.smtp_code} {said[:200]}") from None
        except smtplib.SMTPRecipientsRefused:
            raise SendFailed(f"SMTP {self._host}: the recipient was refused") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise SendFailed(f"SMTP {self._host}: {type(exc).__name__} {_short(exc)}".strip()) from None


class NtfySender:
    def __init__(self, config: NtfySettings, token: str | None) -> None:
        assert config.server is not None
        self._server, self._priority, self._token = config.server.rstrip("/"), config.priority, token

    def send(self, address: str, page: PageMessage) -> None:
        headers = {"Title": _header(page.title), "Priority": str(self._priority), "Tags": "rotating_light",
                   "Click": page.ack_url, "Actions": f"http, Acknowledge, {page.ack_url}, method=POST, clear=true",
                   "Content-Type": "text/plain; charset=utf-8"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        _post(f"{self._server}/{address}", page.text.encode(), headers, "ntfy")


class TwilioSender:
    def __init__(self, config: SmsSettings, account_sid: str, auth_token: str) -> None:
        assert config.sender is not None
        self._url = f"{config.api_url.rstrip('/')}/2010-04-01/Accounts/{urllib.parse.quote(account_sid)}/Messages.json"
        self._from = config.sender
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}

    def send(self, address: str, page: PageMessage) -> None:
        body = f"{page.title}. {page.short or page.text} Ack: {page.ack_url}"
        form = urllib.parse.urlencode({"To": address, "From": self._from, "Body": body[:1500]})
        _post(self._url, form.encode(), self._headers, "Twilio")


@dataclass(frozen=True)
class Senders:
    """The configured senders by kind, and why a kind is off (a missing setting or variable)."""

    by_kind: Mapping[str, Sender]
    off: Mapping[str, str]

    def get(self, kind: str) -> Sender | None:
        return self.by_kind.get(kind)


def from_pack(settings: PagingSettings, env: Mapping[str, str] | None = None) -> Senders:
    env = os.environ if env is None else env
    by_kind: dict[str, Sender] = {}
    off: dict[str, str] = {}
    email = settings.email
    if email.host is None:
        off["email"] = "E-mail paging is off here: paging.yaml names no SMTP server (email.host)."
    else:
        try:
            by_kind["email"] = EmailSender(email, env.get(email.username_env), env.get(email.password_env))
        except (OSError, ssl.SSLError) as exc:
            off["email"] = f"E-mail paging is off here: email.ca_file {email.ca_file} cannot be read ({exc})."
            log.warning("paging_email_off", reason=off["email"])
    if settings.ntfy.server is None:
        off["ntfy"] = "Push paging is off here: paging.yaml names no ntfy server (ntfy.server)."
    else:
        by_kind["ntfy"] = NtfySender(settings.ntfy, env.get(settings.ntfy.token_env) or None)
    sms = settings.sms
    sid, token = env.get(sms.account_sid_env), env.get(sms.auth_token_env)
    if sms.sender is None:
        off["sms"] = "SMS paging is off here: paging.yaml names no Twilio number (sms.sender)."
    elif not sid or not token:
        missing = sms.account_sid_env if not sid else sms.auth_token_env
        off["sms"] = f"SMS paging is off here: {missing} is not set."
    else:
        by_kind["sms"] = TwilioSender(sms, sid, token)
    return Senders(by_kind, off)


def _post(url: str, data: bytes, headers: dict[str, str], service: str) -> None:
    call = urllib.request.Request(url, data=data, headers={"User-Agent": USER_AGENT, **headers}, method="POST")
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT_SECONDS) as reply:
            reply.read()
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"{service}: HTTP {exc.code} {_said(exc.read())}".strip()) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise SendFailed(f"{service}: {type(exc).__name__} {_short(exc)}".strip()) from None


def _said(raw: bytes) -> str:
    """The service's own error text, short (ntfy's ``error``, Twilio's ``code`` and ``message``)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data[k]) for k in ("code", "message", "error") if data.get(k) is not None]
    return " ".join(parts)[:200]


def _short(exc: BaseException) -> str:
    return str(getattr(exc, "reason", "") or exc)[:120]


def _header(text: str) -> str:
    """ntfy reads RFC 2047 encoded headers: a title beyond ASCII survives HTTP's Latin-1 headers."""
    return text if text.isascii() else Header(text, "utf-8").encode()
