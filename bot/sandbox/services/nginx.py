"""A real nginx on 127.0.0.1 (a free port) in a prefix folder of its own, run as whoever starts it
(no root needed: nothing outside the prefix is read or written), in front of a small application
(a Python HTTP server), with the three files maintenance mode switches between: the live
``site.conf``, ``normal.conf`` and ``maintenance.conf``. The sandbox serves its demo shop this way;
the tests their probes.

The maintenance configuration is the usual shape: 503 with the page through ``error_page`` and an
``internal`` location, ``Retry-After`` with ``always`` (without it nginx drops the header on 5xx),
the health path proxied, and a ``geo`` block (its entries from the allowlist file the bot writes)
letting allowlisted addresses through to the application."""

from __future__ import annotations

import getpass
import http.client
import http.server
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.sandbox.services.process import ServiceError, check_running, free_port, stop_process, wait_for

NORMAL = """server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://127.0.0.1:{app}; }}
}}
"""

MAINTENANCE = """geo $maintenance_allowed {{
    default 0;
    include {allowlist};
}}
server {{
    listen 127.0.0.1:{port};
    root {pages};
    error_page 503 /maintenance.html;
    location = /maintenance.html {{
        internal;
        add_header Retry-After 3600 always;
        add_header Cache-Control no-store always;
    }}
    location = /health {{ proxy_pass http://127.0.0.1:{app}; }}
    location @app {{ proxy_pass http://127.0.0.1:{app}; }}
    location / {{
        error_page 503 /maintenance.html;
        error_page 418 = @app;
        if ($maintenance_allowed) {{ return 418; }}
        return 503;
    }}
}}
"""

MAIN = """{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type text/html;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/site.conf;
}}
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def says_its_path(path: str) -> str:
    return f"application: {path}"


class App:
    """The application behind nginx: 200 on every path, with the body ``page(path)`` (by default
    it names the path, so a test can tell the application from the maintenance page)."""

    def __init__(self, page: Callable[[str], str] = says_its_path) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = page(self.path).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="demo-app", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Nginx:
    def __init__(self, prefix: Path, app_port: int) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.app_port = app_port
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.conf = prefix / "nginx.conf"
        self.site, self.normal = prefix / "site.conf", prefix / "normal.conf"
        self.maintenance = prefix / "maintenance.conf"
        self.allowlist = prefix / "allowlist.conf"
        self.pages = prefix / "pages"
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def argv(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log"),
                *extra]

    def write_configs(self) -> None:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.pages.mkdir(parents=True, exist_ok=True)
        # As root nginx would hand its workers to nobody, who cannot read a private temporary folder.
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        self.conf.write_text(MAIN.format(user=user, prefix=self.prefix))
        values = {"port": self.port, "app": self.app_port, "allowlist": self.allowlist, "pages": self.pages}
        self.normal.write_text(NORMAL.format(**values))
        self.maintenance.write_text(MAINTENANCE.format(**values))
        self.allowlist.write_text("")
        shutil.copyfile(self.normal, self.site)

    def maintenance_sections(self, *, probe_within: str = "15s") -> dict[str, Any]:
        """The ``nginx``, ``page`` and ``probe`` sections of a ``maintenance.yaml`` that switches this nginx."""
        return {
            "nginx": {"site_config": str(self.site), "maintenance_config": str(self.maintenance),
                      "normal_config": str(self.normal), "test": self.argv("-t"), "reload": self.argv("-s", "reload"),
                      "allowlist_file": str(self.allowlist)},
            "page": {"target": str(self.pages / "maintenance.html")},
            "probe": {"url": f"{self.url}/", "health_paths": ["/health"], "within": probe_within, "every": "1s"},
        }

    def start(self) -> Nginx:
        if not os.access(self.binary, os.X_OK):
            raise ServiceError("nginx is not installed (./dev run installs it)")
        self.write_configs()
        with (self.prefix / "stdout.log").open("ab") as log:
            self._proc = subprocess.Popen(self.argv("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: self._up() and self.get("/").status == 200, what=f"nginx on port {self.port}")
        except ServiceError:
            self.stop()
            raise
        return self

    def _up(self) -> bool:
        check_running(self._proc, "nginx", self.prefix / "error.log")
        try:
            self.get("/")
            return True
        except OSError:
            return False

    def get(self, path: str, *, source: str | None = None) -> Answer:
        """GET through nginx, optionally from another loopback address (127.0.0.2 …)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request("GET", path)
            reply = conn.getresponse()
            return Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()},
                          reply.read().decode("utf-8", errors="replace"))
        finally:
            conn.close()

    def stop(self) -> None:
        stop_process(self._proc, sig=signal.SIGQUIT)  # graceful: workers finish what they serve
