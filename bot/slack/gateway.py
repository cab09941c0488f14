"""Outbound Slack Web API, the only place the bot's services call Slack from.

Wraps slack_sdk's WebClient with its retry handlers (429 honouring Retry-After, 5xx,
connection errors) and sorts failures into "try again later" and "Slack said no".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

T = TypeVar("T")
log = structlog.get_logger(__name__)
_DIRECTORY_TTL = 300.0
_JSON_METHODS = ("chat.", "views.")  # the methods that take JSON bodies; the rest take forms
_FORM_ONLY = ("chat.getPermalink",)  # a chat.* method Slack reads from a form (or query) only


def _form(args: dict[str, Any]) -> dict[str, str]:
    def encode(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)

    return {key: encode(value) for key, value in args.items() if value is not None}


@contextmanager
def _sorted_failures(method: str) -> Iterator[None]:
    """Slack's failures as "try again later" or "Slack said no"."""
    try:
        yield
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error", "unknown_error"))
        if status == 429 or error == "ratelimited":
            raise SlackUnavailable(f"{method}: {error} (HTTP {status})",
                                   retry_after=_retry_after(exc.response.headers)) from None
        if status >= 500 or error in ("service_unavailable", "fatal_error"):
            raise SlackUnavailable(f"{method}: {error} (HTTP {status})", outage=True) from None
        raise SlackRejected(method, error) from None
    except (SlackClientError, OSError) as exc:  # SlackRequestError too: an upload the file service refused
        # OSError includes TimeoutError: Slack accepted the connection and never answered (TIMEOUT)
        raise SlackUnavailable(f"{method}: {type(exc).__name__}", outage=True) from None


def _retry_after(headers: Any) -> int:
    """Slack's Retry-After in seconds (0 when absent or unreadable)."""
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            return int(raw) if str(raw).isdigit() else 0
    return 0


class SlackUnavailable(Exception):
    """Slack could not be reached or kept refusing (rate limit, 5xx): retry later.

    ``retry_after``: the seconds a rate limit asked for (0 if none); ``outage``: Slack as a whole is
    failing (no answer in time, connection refused, 5xx), not only this method or channel."""

    def __init__(self, message: str, *, retry_after: int = 0, outage: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.outage = outage


class SlackRejected(Exception):
    """Slack answered with an error that a retry will not fix (``error`` is Slack's code)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


@dataclass(frozen=True)
class UserGroup:
    id: str
    handle: str
    users: tuple[str, ...]


TIMEOUT = 10
"""Seconds each HTTP request to Slack may take (``OPSBOT_SLACK_TIMEOUT_SECONDS``)."""
MAX_RETRIES = 2
"""Retries within one call, counted together over the three kinds (connection, 429, 5xx)."""
MAX_RETRY_AFTER = 3
"""The longest Retry-After waited out within a call; a longer one ends the call as SlackUnavailable
with ``retry_after``, and the outbox waits it out in the row's due time instead of in a thread."""


def call_bound(timeout: float = TIMEOUT) -> float:
    """The longest one gateway call can take: every attempt timing out, plus the waits between."""
    return (MAX_RETRIES + 1) * timeout + MAX_RETRIES * (MAX_RETRY_AFTER + 1)


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler sleeps whatever Retry-After says (Slack sends up to 60 s, and a
    Tier 1 method more): only short waits are taken here, so no call outlasts ``call_bound``."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response.headers) <= MAX_RETRY_AFTER


class AsyncBoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """The same bound for Bolt's client (``bot.app``): a listener never sleeps out a long Retry-After."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return (response is not None and response.status_code == 429
                and _retry_after(response.headers) <= MAX_RETRY_AFTER)


def async_retry_handlers() -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=MAX_RETRIES),
            AsyncBoundedRateLimitRetryHandler(max_retry_count=MAX_RETRIES),
            AsyncServerErrorRetryHandler(max_retry_count=MAX_RETRIES)]


def retry_handlers() -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(max_retry_count=MAX_RETRIES),
            BoundedRateLimitRetryHandler(max_retry_count=MAX_RETRIES),
            ServerErrorRetryHandler(max_retry_count=MAX_RETRIES)]


def make_client(token: str, base_url: str, *, timeout: float = TIMEOUT) -> WebClient:
    """Every Slack call is bounded: ``timeout`` per request, and ``call_bound`` in all."""
    return WebClient(token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=retry_handlers())


class SlackGateway:
    def __init__(self, client: WebClient, *, parallelism: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="slack")
        self._lock = threading.Lock()
        self._channels: dict[str, str] = {}
        self._taken: set[str] = set()
        self._groups: dict[str, UserGroup] = {}
        self._groups_loaded_at = 0.0

    # -- raw calls -------------------------------------------------------------------------
    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with _sorted_failures(method):
            if method.startswith(_JSON_METHODS) and method not in _FORM_ONLY:
                response = self._client.api_call(method, json=args)
            else:
                response = self._client.api_call(method, data=_form(args))
        return dict(response.data) if isinstance(response.data, dict) else {}

    def upload_file(self, channel: str, *, filename: str, title: str, content: str | bytes, comment: str,
                    thread_ts: str | None = None) -> str:
        """Share a file (text, or bytes such as a PNG) in ``channel`` with a comment, in a thread when
        ``thread_ts`` says so; its file ID. slack_sdk's ``files_upload_v2`` makes the three steps that
        replaced ``files.upload`` (retired in 2025): ``files.getUploadURLExternal``, the bytes POSTed
        to that URL, ``files.completeUploadExternal``."""
        with _sorted_failures("files.completeUploadExternal"):
            response = self._client.files_upload_v2(channel=channel, filename=filename, title=title,
                                                    content=content, initial_comment=comment, thread_ts=thread_ts)
        files = response.get("files") or []
        return str(files[0]["id"]) if files else ""

    def parallel(self, *calls: Callable[[], T]) -> list[T | BaseException]:
        """Run independent calls concurrently; each result is a value or the exception raised."""
        futures = [self._pool.submit(c) for c in calls]
        results: list[T | BaseException] = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:  # noqa: BLE001 - handed back to the caller to judge
                results.append(exc)
        return results

    def permalink(self, channel: str, ts: str) -> str | None:
        """A message's link, or None when Slack cannot say now (the message shows without one)."""
        try:
            return self.call("chat.getPermalink", {"channel": channel, "message_ts": ts}).get("permalink")
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("permalink_unavailable", channel=channel, error=str(exc))
            return None

    # -- channels ----------------------------------------------------------------------------
    def create_channel(self, name: str) -> str:
        try:
            data = self.call("conversations.create", {"name": name, "is_private": False})
        except SlackRejected as exc:
            if exc.error == "name_taken":
                with self._lock:
                    self._taken.add(name)
            raise
        channel_id = data["channel"]["id"]
        with self._lock:
            self._channels[name] = channel_id
        return channel_id

    def invite(self, channel: str, users: Sequence[str]) -> None:
        if not users:
            return
        try:
            self.call("conversations.invite", {"channel": channel, "users": ",".join(users), "force": True})
        except SlackRejected as exc:
            if exc.error not in ("already_in_channel", "cant_invite_self"):
                raise

    def known_channel(self, name: str) -> bool:
        """Whether this process has seen a channel of that name (saves a ``name_taken`` round trip)."""
        with self._lock:
            return name in self._channels or name in self._taken

    def channel_id(self, ref: str) -> str:
        """Resolve ``#name`` to an ID (cached); IDs pass through."""
        if not ref.startswith("#"):
            return ref
        name = ref[1:]
        with self._lock:
            if name in self._channels:
                return self._channels[name]
        cursor = ""
        while True:
            data = self.call("conversations.list", {"types": "public_channel,private_channel",
                                                    "limit": 1000, "cursor": cursor,
                                                    "exclude_archived": True})
            with self._lock:
                for channel in data.get("channels", []):
                    self._channels[channel["name"]] = channel["id"]
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        with self._lock:
            if name in self._channels:
                return self._channels[name]
        raise SlackRejected("conversations.list", "channel_not_found")

    # -- directory ---------------------------------------------------------------------------
    def user_group(self, handle: str, *, live: bool = False) -> UserGroup | None:
        """Look up a user group by handle (with or without ``@``), cached for five minutes unless
        ``live`` (approvals: membership as it is now)."""
        handle = handle.lstrip("@")
        with self._lock:
            fresh = time.monotonic() - self._groups_loaded_at < _DIRECTORY_TTL
            if fresh and not live:
                return self._groups.get(handle)
        data = self.call("usergroups.list", {"include_users": True})
        groups = {
            g["handle"]: UserGroup(g["id"], g["handle"], tuple(g.get("users") or ()))
            for g in data.get("usergroups", [])
        }
        with self._lock:
            self._groups = groups
            self._groups_loaded_at = time.monotonic()
        return groups.get(handle)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
