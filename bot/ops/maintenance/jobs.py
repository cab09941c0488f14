"""The Celery job queue on Redis: how much work is left, and stopping / restarting consumption.

``LLEN celery`` alone does not mean idle: with the Redis broker, messages a worker has prefetched
sit in kombu's ``unacked`` set, so the workers are asked too (``inspect active/reserved/scheduled``).
Consumption is stopped with ``cancel_consumer`` (warm: tasks in flight finish) and restarted with
``add_consumer``; nothing here ever terminates a task."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
from celery import Celery

from bot.executor.plan import StepFailed
from playbooks.maintenance import QueueSettings

# kombu's Redis transport keeps priorities 3, 6 and 9 in lists named <queue>\x06\x16<priority>.
_PRIORITY_SEP = "\x06\x16"
_PRIORITIES = ("3", "6", "9")


def shown_url(url: str) -> str:
    """The URL as it may be shown: without a user or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Depth:
    queued: int
    active: int
    reserved: int
    scheduled: int
    workers: int

    @property
    def total(self) -> int:
        return self.queued + self.active + self.reserved + self.scheduled

    def describe(self) -> str:
        return (f"{self.total} job(s) left: {self.queued} queued, {self.active} running, "
                f"{self.reserved} reserved and {self.scheduled} scheduled on {self.workers} worker(s)")


def queued(settings: QueueSettings) -> int:
    """Messages waiting in the queue's Redis lists (every priority)."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        names = [settings.queue, *(f"{settings.queue}{_PRIORITY_SEP}{p}" for p in _PRIORITIES)]
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(name)
            return sum(int(n) for n in pipe.execute())
    except redis.RedisError as exc:
        raise StepFailed(f"Redis at {shown_url(settings.redis_url)} did not answer: {type(exc).__name__}") from None
    finally:
        client.close()


def preflight(settings: QueueSettings) -> None:
    """Redis (the queue) and the Celery broker answer: checked before maintenance mode changes
    anything, so an unreachable Redis refuses the run with the site as it was, rather than leaving
    the maintenance page up with a queue nobody can drain."""
    for url in dict.fromkeys((settings.redis_url, settings.broker)):
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise StepFailed(f"Redis at {shown_url(url)} did not answer ({type(exc).__name__}), so nothing was "
                             "changed: the site is served as before") from None
        finally:
            client.close()


class Workers:
    """The Celery control API against the broker; one connection pool per use, closed after."""

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        self.expected: set[str] | None = None
        self.app = Celery("opsbot-maintenance", broker=settings.broker, set_as_current=False)
        self.app.conf.broker_connection_retry_on_startup = False
        self.app.conf.broker_connection_max_retries = 1

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.app.close()

    def depth(self) -> tuple[Depth, list[str]]:
        """What is left, and which expected workers did not answer. The list is read before the
        workers are asked: with producers stopped, nothing can then move from the list into a
        worker unseen. The workers expected are those that answered a ping at the first call; each
        inspect returns as soon as they all answered."""
        waiting = queued(self.settings)
        timeout = self.settings.inspect_timeout.total_seconds()
        try:
            if self.expected is None:
                self.expected = {name for reply in self.app.control.ping(timeout=timeout) or [] for name in reply}
            inspect = self.app.control.inspect(timeout=timeout, limit=len(self.expected) or None)
            active, reserved, scheduled = inspect.active() or {}, inspect.reserved() or {}, inspect.scheduled() or {}
        except Exception as exc:  # kombu raises many kinds for a broker that is away
            raise StepFailed(f"the Celery broker at {shown_url(self.settings.broker)} did not answer: "
                             f"{type(exc).__name__}") from None
        answered = set(active) & set(reserved) & set(scheduled)  # a worker counts if it answered all three
        self.expected |= answered
        depth = Depth(waiting, _count(active), _count(reserved), _count(scheduled), len(answered))
        return depth, sorted(self.expected - answered)

    def cancel_consumer(self) -> list[str]:
        """Every worker stops taking messages from the queue (tasks in flight finish). Returns who answered."""
        return self._broadcast("cancel_consumer")

    def add_consumer(self) -> list[str]:
        return self._broadcast("add_consumer")

    def _broadcast(self, command: str) -> list[str]:
        timeout = self.settings.inspect_timeout.total_seconds()
        try:
            replies = getattr(self.app.control, command)(self.settings.queue, reply=True, timeout=timeout) or []
        except Exception as exc:
            raise StepFailed(f"{command} {self.settings.queue}: the Celery broker at "
                             f"{shown_url(self.settings.broker)} did not answer: {type(exc).__name__}") from None
        return sorted(name for reply in replies for name in reply)


def _count(by_worker: dict[str, list]) -> int:
    return sum(len(tasks or []) for tasks in by_worker.values())
