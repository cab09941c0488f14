"""A small JSON-over-HTTP server on 127.0.0.1 for the stand-ins of hosted APIs (GitHub Issues, Jira
Cloud): routes by method and path pattern, a log of requests, and the faults a test needs (an
outage answering 503, an answer lost after the request was carried out)."""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None


Route = Callable[[Request, re.Match[str]], Answer]


class HttpStandIn(ABC):
    """Subclasses add routes with ``self.route("GET", r"/repos/(?P<owner>[^/]+)/…", handler)``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._fail: list[int] = []
        self._lose_answers = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _serve(self) -> None:
                stand_in._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` requests answer ``status`` (an outage) and change nothing."""
        with self.lock:
            self._fail += [status] * count

    def lose_next_answer(self) -> None:
        """The next request is carried out, but its answer never reaches the client (a dropped
        connection): the client cannot tell whether it happened."""
        with self.lock:
            self._lose_answers += 1

    def calls(self, method: str, path_prefix: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    @abstractmethod
    def authorized(self, request: Request) -> bool:
        """Whether the request carries the credentials this API expects."""

    @abstractmethod
    def unauthorized(self) -> Answer:
        """The vendor's answer to missing or wrong credentials."""

    @abstractmethod
    def not_found(self) -> Answer:
        """The vendor's answer to a path it does not serve."""

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        request = Request(handler.command, split.path, {k: v[-1] for k, v in parse_qs(split.query).items()},
                          {k.lower(): v for k, v in handler.headers.items()}, body)
        with self.lock:
            self.requests.append(request)
            failing = self._fail.pop(0) if self._fail else None
            lose = self._lose_answers > 0
            if lose:
                self._lose_answers -= 1
            if failing is not None:
                answer = Answer(failing, {"message": "Service Unavailable"})
            elif not self.authorized(request):
                answer = self.unauthorized()
            else:
                answer = self._dispatch(request)
        if lose:
            handler.close_connection = True
            handler.connection.close()
            return
        data = b"" if answer.body is None else json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(self, request: Request) -> Answer:
        for method, pattern, route in self._routes:
            found = pattern.match(request.path)
            if found and method == request.method:
                return route(request, found)
        return self.not_found()

    def __enter__(self) -> HttpStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
