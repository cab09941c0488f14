"""A throwaway redis-server on 127.0.0.1 (a free port, its own folder, no persistence)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from bot.sandbox.services.process import ServiceError, check_running, free_port, stop_process, wait_for


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "redis.log"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not shutil.which(binary):
            raise ServiceError("redis-server is not installed (./dev run installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder), "--save", "",
                 "--appendonly", "no", "--daemonize", "no"], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(self._answers, what=f"redis-server on port {self.port}")
        except ServiceError:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        check_running(self._proc, "redis-server", self.log)
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def stop(self) -> None:
        stop_process(self._proc)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
