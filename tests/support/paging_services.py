"""Local stand-ins for where pages go (docs/paging.md), each on 127.0.0.1:

* ``SmtpServer``: a real SMTP server (aiosmtpd) that requires STARTTLS, with a self-signed
  certificate made here (``cryptography``), and then AUTH (PLAIN or LOGIN) with one account;
* ``NtfyStandIn``: ntfy's publish API (docs.ntfy.sh/publish): ``POST /<topic>`` with the message as
  the body and ``Title``, ``Priority``, ``Tags``, ``Click``, ``Actions`` headers, access tokens as
  ``Authorization: Bearer``; it answers the message as JSON, errors as ``{"code", "http", "error"}``;
* ``TwilioStandIn``: Twilio's Messages resource (twilio.com/docs/messaging/api/message-resource):
  ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP basic auth (Account SID and auth
  token), form fields ``To``, ``From``, ``Body``; 201 and the Message as JSON, errors as
  ``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.header
import email.policy
import ipaddress
import itertools
import re
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.sandbox.services.process import free_port
from tests.support.http_stand_in import Answer, HttpStandIn, Request


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files): the server presents it,
    the client trusts it as its CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str  # who authenticated
    over_tls: bool


class SmtpServer:
    """``with SmtpServer(folder, "opsbot", "s3cret-pass") as smtp:`` then ``smtp.port``,
    ``smtp.ca_file``, ``smtp.received``; ``smtp.refuse_next(n)`` answers the next n messages 451."""

    def __init__(self, folder: Path, username: str, password: str) -> None:
        self.ca_file, key_file = self_signed_certificate(folder)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.ca_file, key_file)
        self.username, self._password = username, password
        self.received: list[Received] = []
        self.logins: list[tuple[str, bool]] = []  # (login, accepted)
        self._refuse = 0
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, tls_context=tls,
                                      require_starttls=True, auth_required=True, auth_require_tls=True,
                                      authenticator=self._authenticate)

    def refuse_next(self, count: int = 1) -> None:
        with self._lock:
            self._refuse += count

    def _authenticate(self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str,
                      data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login.decode() == self.username
              and data.password.decode() == self._password)
        with self._lock:
            self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "", ok))
        return AuthResult(success=ok, handled=False, auth_data=data)

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self._lock:
            if self._refuse:
                self._refuse -= 1
                return "451 4.3.0 Try again later"
            message = email.message_from_bytes(envelope.content or b"", policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), message,
                                          session.auth_data.login.decode() if session.authenticated else "",
                                          session.ssl is not None))
        return "250 OK"

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()


def _action(text: str) -> dict[str, Any]:
    """One action of ntfy's short ``Actions`` header format: ``http, Label, url, key=value…``."""
    parts = [p.strip() for p in text.split(",")]
    action: dict[str, Any] = {"action": parts[0], "label": parts[1], "url": parts[2]}
    for part in parts[3:]:
        key, _, value = part.partition("=")
        action[key] = value == "true" if value in ("true", "false") else value
    return action


class NtfyStandIn(HttpStandIn):
    def __init__(self, *, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.route("POST", r"/(?P<topic>[-_A-Za-z0-9]{1,64})", self._publish)

    def authorized(self, request: Request) -> bool:
        return self.token is None or request.headers.get("authorization") == f"Bearer {self.token}"

    def unauthorized(self) -> Answer:
        return Answer(401, {"code": 40101, "http": 401, "error": "unauthorized",
                            "link": "https://ntfy.sh/docs/publish/#authentication"})

    def not_found(self) -> Answer:
        return Answer(404, {"code": 40401, "http": 404, "error": "page not found"})

    def _publish(self, request: Request, found: re.Match[str]) -> Answer:
        priority = request.headers.get("priority", "3")
        if priority not in {"1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"}:
            return Answer(400, {"code": 40007, "http": 400, "error": "invalid priority"})
        title = str(email.header.make_header(email.header.decode_header(request.headers.get("title", ""))))
        actions = [_action(a) for a in request.headers.get("actions", "").split(";") if a.strip()]
        message = {"id": f"msg{next(self._ids):06d}", "time": int(dt.datetime.now(dt.UTC).timestamp()),
                   "event": "message", "topic": found["topic"], "title": title,
                   "message": request.body if isinstance(request.body, str) else str(request.body),
                   "priority": int(priority) if priority.isdigit() else 5,
                   "tags": [t for t in request.headers.get("tags", "").split(",") if t],
                   "click": request.headers.get("click"), "actions": actions}
        self.messages.append(message)
        return Answer(200, message)


class TwilioStandIn(HttpStandIn):
    def __init__(self, account_sid: str, auth_token: str, numbers: tuple[str, ...]) -> None:
        super().__init__()
        self.account_sid, self.auth_token, self.numbers = account_sid, auth_token, numbers
        self.messages: list[dict[str, Any]] = []
        self.route("POST", r"/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json", self._create)

    def authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def unauthorized(self) -> Answer:
        return Answer(401, {"code": 20003, "message": "Authenticate",
                            "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})

    def not_found(self) -> Answer:
        return Answer(404, {"code": 20404, "message": "The requested resource was not found",
                            "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})

    def _create(self, request: Request, found: re.Match[str]) -> Answer:
        if found["sid"] != self.account_sid or not request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            return self.not_found()
        form = {k: v[-1] for k, v in parse_qs(request.body if isinstance(request.body, str) else "").items()}
        if not re.fullmatch(r"\+[1-9][0-9]{6,14}", form.get("To", "")):
            return _twilio_error(21211, f"The 'To' number {form.get('To', '')} is not a valid phone number.")
        if form.get("From") not in self.numbers:
            return _twilio_error(21606, "The 'From' phone number provided is not a valid message-capable Twilio "
                                        "phone number for this destination/account.")
        if not form.get("Body"):
            return _twilio_error(21602, "Message body is required.")
        sid = f"SM{len(self.messages) + 1:032x}"
        message = {"sid": sid, "account_sid": self.account_sid, "to": form["To"], "from": form["From"],
                   "body": form["Body"], "status": "queued", "num_segments": "1", "direction": "outbound-api",
                   "api_version": "2010-04-01", "error_code": None, "error_message": None,
                   "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}
        self.messages.append(message)
        return Answer(201, message)


def _twilio_error(code: int, message: str) -> Answer:
    return Answer(400, {"code": code, "message": message,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": 400})
