"""What the follow-ups need from an issue tracker, and JSON over HTTP to reach one.

A tracker that cannot be reached, answers 5xx or asks to slow down raises ``TrackerUnavailable``
(the exchange is tried again later); one that refuses the request (a bad token, a repository
that does not exist) raises ``TrackerRejected`` with what it said. Tokens go in headers only and
never into an exception's text.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

TIMEOUT_SECONDS = 10.0
USER_AGENT = "opsbot (incident follow-ups)"


@dataclass(frozen=True)
class TrackerIssue:
    key: str  # GitHub: the issue number; Jira: the issue key
    url: str
    done: bool


@dataclass(frozen=True)
class NewIssue:
    title: str
    body: str
    due_on: str  # YYYY-MM-DD
    marker: str
    """Unique to the follow-up (``opsbot-fu-12``): finds an issue whose creation was not confirmed."""


class TrackerUnavailable(Exception):
    """Try again later: no answer, a 5xx, or a rate limit."""


class TrackerRejected(Exception):
    """The tracker refused the request; retrying the same request will not help."""


class Tracker(Protocol):
    name: str

    def create(self, issue: NewIssue) -> TrackerIssue: ...

    def find(self, marker: str) -> TrackerIssue | None: ...

    def get(self, key: str) -> TrackerIssue: ...

    def close(self, key: str) -> TrackerIssue: ...


def request(method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    """The JSON answer (None for an empty one), or one of the two exceptions above."""
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **headers}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    call = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT_SECONDS) as reply:
            raw = reply.read()
    except urllib.error.HTTPError as exc:
        said = _said(exc.read())
        if exc.code >= 500 or exc.code == 429 or (exc.code == 403 and exc.headers.get("x-ratelimit-remaining") == "0"):
            raise TrackerUnavailable(f"{method} {_path(url)}: HTTP {exc.code} {said}".strip()) from None
        raise TrackerRejected(f"{method} {_path(url)}: HTTP {exc.code} {said}".strip()) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise TrackerUnavailable(f"{method} {_path(url)}: {type(exc).__name__}") from None
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise TrackerUnavailable(f"{method} {_path(url)}: the answer is not JSON") from None


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def _said(raw: bytes) -> str:
    """The tracker's own error message, short (GitHub's ``message``, Jira's ``errorMessages``)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(data, dict):
        messages = [data.get("message")] + list(data.get("errorMessages") or [])
        messages += [f"{k}: {v}" for k, v in (data.get("errors") or {}).items()] if isinstance(
            data.get("errors"), dict) else []
        return "; ".join(str(m) for m in messages if m)[:300]
    return ""
