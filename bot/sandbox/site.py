"""The sandbox's own site: every service its operations act on, started in one folder on
127.0.0.1 and free ports, and stopped together.

    folder/postgres/   PostgreSQL with the demo database (under root: a folder in /tmp when the
                       postgres user cannot reach this one)
    folder/nginx/      nginx's prefix: its configurations, the maintenance page, its logs
    folder/app/        the demo application's files (a full backup archives them)
    folder/redis/      Redis, the Celery broker; folder/worker/ the Celery worker

A service that cannot start (not installed, or it fails) is recorded with the reason, and the
actions that need it are marked unavailable in the sandbox pack instead of reaching for the host's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from bot.sandbox import demo
from bot.sandbox.services.celery_worker import CeleryWorker
from bot.sandbox.services.nginx import App, Nginx
from bot.sandbox.services.postgres import PostgresServer
from bot.sandbox.services.process import ServiceError
from bot.sandbox.services.redis import RedisServer

POSTGRES, NGINX, REDIS, WORKER = "PostgreSQL", "nginx", "Redis", "the Celery worker"


class SandboxSite:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.postgres: PostgresServer | None = None
        self.app: App | None = None
        self.nginx: Nginx | None = None
        self.redis = RedisServer(folder / "redis")
        self.worker = CeleryWorker(self.redis.url, folder / "worker")
        self.down: dict[str, str] = {}
        """Service -> why it is not running."""
        self.app_files = folder / "app"
        self.counts: dict[str, int] = {}

    def start(self, say: Callable[[str], None]) -> None:
        """Start every service it can, saying what runs where (or why not), one line each."""
        self._start_postgres(say)
        self._start_web(say)
        self._start_queue(say)

    def _start_postgres(self, say: Callable[[str], None]) -> None:
        try:
            self.postgres = PostgresServer(parent=self.folder / "postgres").start()
            self.counts = demo.create_database(self.postgres)
        except ServiceError as exc:
            self._down(POSTGRES, exc, say)
            return
        rows = ", ".join(f"{n} {table}" for table, n in self.counts.items())
        say(f"  PostgreSQL on 127.0.0.1:{self.postgres.port}, demo database {demo.DATABASE} ({rows}); "
            f"data in {self.postgres.base_dir}")

    def _start_web(self, say: Callable[[str], None]) -> None:
        demo.write_app_files(self.app_files)
        self.app = App(demo.shop_page(self.postgres.conninfo(demo.DATABASE) if self.postgres else None))
        self.nginx = Nginx(self.folder / "nginx", self.app.port)
        try:
            self.nginx.start()
        except ServiceError as exc:
            self._down(NGINX, exc, say)
            return
        say(f"  nginx on {self.nginx.url}/ in front of the demo shop; maintenance mode swaps its "
            f"configuration in {self.nginx.prefix}")

    def _start_queue(self, say: Callable[[str], None]) -> None:
        try:
            self.redis.start()
        except ServiceError as exc:
            self._down(REDIS, exc, say)
            return
        try:
            self.worker.start()
        except ServiceError as exc:
            self._down(WORKER, exc, say)
            return
        say(f"  Redis on 127.0.0.1:{self.redis.port} and a Celery worker consuming its `celery` queue")

    def _down(self, service: str, exc: Exception, say: Callable[[str], None]) -> None:
        reason = " ".join(str(exc).split())[:300]
        self.down[service] = reason
        say(f"  {service} is not running: {reason}")

    def stop(self) -> None:
        """Stop everything started, in reverse order; safe to call twice."""
        with contextlib.suppress(ServiceError):
            self.worker.stop()
        self.redis.stop()
        if self.nginx is not None:
            self.nginx.stop()
        if self.app is not None:
            self.app.stop()
            self.app = None
        if self.postgres is not None:
            self.postgres.stop()
