"""Who may send alerts: each integration's secret, read once at start-up from the environment or
a file (never from the YAML), and compared in constant time before any other work is done.

A bad or missing secret is a 401 that costs a header read and one HMAC; nothing is parsed or stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from playbooks.alerts import AlertSettings

log = structlog.get_logger(__name__)
SIGNATURE_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class IntakeSecrets:
    alertmanager: bytes | None = field(default=None, repr=False)
    grafana: bytes | None = field(default=None, repr=False)
    events: bytes | None = field(default=None, repr=False)


def load_secrets(settings: AlertSettings, env: Mapping[str, str] | None = None) -> IntakeSecrets:
    """Each configured integration's secret; an integration whose secret is missing is switched off
    (its endpoint answers 404) and the log says which variable or file to provide."""
    env = os.environ if env is None else env
    found: dict[str, bytes | None] = {}
    for name in ("alertmanager", "grafana", "events"):
        config = getattr(settings.integrations, name)
        if config is None:
            found[name] = None
            continue
        value: str | None = None
        if config.secret_env:
            value = env.get(config.secret_env) or None
            where = f"environment variable {config.secret_env}"
        else:
            where = f"file {config.secret_file}"
            try:
                value = Path(config.secret_file).read_text(encoding="utf-8").strip() or None
            except (OSError, UnicodeDecodeError):
                value = None
        if value is None:
            log.warning("alert_intake_disabled", integration=name, reason=f"no secret in {where}")
        found[name] = value.encode() if value else None
    return IntakeSecrets(**found)


def _equal(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


def bearer_ok(authorization: str | None, secret: bytes) -> bool:
    scheme, _, credentials = (authorization or "").partition(" ")
    return _equal(credentials.strip().encode(), secret) and scheme.lower() == "bearer"


def basic_ok(authorization: str | None, username: str, secret: bytes) -> bool:
    scheme, _, credentials = (authorization or "").partition(" ")
    try:
        user, _, password = base64.b64decode(credentials.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        user, password = b"", b""
    ok_user = _equal(user, username.encode())
    ok_password = _equal(password, secret)
    return ok_user and ok_password and scheme.lower() == "basic"


def signature_ok(body: bytes, signature: str | None, timestamp: str | None, secret: bytes, *,
                 timestamped: bool, now: float | None = None) -> bool:
    """Grafana's HMAC-SHA256 (hex) of the body, or of ``timestamp:body`` with a timestamp header;
    a timestamp more than five minutes away is refused (a replayed request)."""
    message = body
    if timestamped:
        if not timestamp or not timestamp.isdigit():
            return False
        if abs((now or time.time()) - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            return False
        message = timestamp.encode() + b":" + body
    expected = hmac.new(secret, message, hashlib.sha256).hexdigest().encode()
    return _equal((signature or "").strip().lower().removeprefix("sha256=").encode(), expected)


def routing_key_ok(key: str | None, secret: bytes) -> bool:
    return _equal((key or "").encode(), secret)
