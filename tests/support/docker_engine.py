"""A stand-in of the Docker Engine API on a unix socket, for the real docker SDK to talk to.

The docker runner is tested on a real engine (tests/support/dockerd.py); this stays for what that
shared engine cannot be made to do (go away between two calls), and for ``docker exec pg_dump``
against the test PostgreSQL on the host. It speaks the parts of the API the runner uses (ping,
version, container inspect/restart/stop/start, exec create/start/inspect, image inspect/tag), with
the engine's status codes and ``{"message": ...}`` errors. An exec RUNS its argv as a local
process, so ``docker exec postgres pg_dump …`` works against a local PostgreSQL; its output comes
back in the engine's multiplexed framing over a hijacked connection.

    with DockerEngineStandIn(tmp_path) as engine:
        engine.add_container("web")
        engine.add_image("app:backup")
        client = docker.APIClient(base_url=engine.base_url)
        ...
        assert engine.calls[-1] == Call("restart", "web", {"t": "10"})
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import struct
import subprocess
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.43"
STDOUT, STDERR = 1, 2
_VERSIONED = re.compile(r"^/v[0-9]+\.[0-9]+(/.*)$")


@dataclass
class Container:
    name: str
    id: str
    image: str
    status: str = "running"  # running | exited
    stop_seconds: float = 0.0
    """How long a stop takes (capped by the request's timeout), to see timeouts pass through."""


@dataclass(frozen=True)
class Call:
    """One state-changing request, for assertions: ``Call("stop", "web", {"t": "10"})``."""

    action: str
    target: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class _Exec:
    id: str
    container: Container
    argv: list[str]
    env: list[str]
    workdir: str | None
    attach_stdin: bool
    running: bool = False
    exit_code: int | None = None
    pid: int = 0


class DockerEngineStandIn:
    def __init__(self, folder: Path, *, api_version: str = API_VERSION) -> None:
        self.socket_path = folder / "docker.sock"
        self.base_url = f"unix://{self.socket_path}"
        self.api_version = api_version
        self.containers: dict[str, Container] = {}
        self.images: dict[str, str] = {}  # reference (name:tag) -> image id
        self.calls: list[Call] = []
        self.execs: dict[str, _Exec] = {}
        self.lock = threading.Lock()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._connections: set[socket.socket] = set()

    # -- state -----------------------------------------------------------------------------------------

    def add_container(self, name: str, *, status: str = "running", image: str = "app:latest",
                      stop_seconds: float = 0.0) -> Container:
        container = Container(name, uuid.uuid4().hex + uuid.uuid4().hex, image, status, stop_seconds)
        self.containers[name] = container
        return container

    def add_image(self, reference: str) -> str:
        image_id = f"sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.images[_normal(reference)] = image_id
        return image_id

    def image_id(self, reference: str) -> str | None:
        return self._image(reference)

    def find_container(self, key: str) -> Container | None:
        if key in self.containers:
            return self.containers[key]
        return next((c for c in self.containers.values() if len(key) >= 12 and c.id.startswith(key)), None)

    def _image(self, key: str) -> str | None:
        if _normal(key) in self.images:
            return self.images[_normal(key)]
        return next((i for i in self.images.values() if key in (i, i.removeprefix("sha256:")[: len(key)])), None)

    # -- server ----------------------------------------------------------------------------------------

    def start(self) -> DockerEngineStandIn:
        engine = self

        class Handler(_Handler):
            pass

        Handler.engine = engine
        server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in list(self._connections):  # as a dying engine: open keep-alive connections break too
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> DockerEngineStandIn:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _normal(reference: str) -> str:
    """``app`` means ``app:latest``; a tag follows the last ':' after the last '/'."""
    if "@" in reference or ":" in reference.rsplit("/", 1)[-1]:
        return reference
    return f"{reference}:latest"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine: DockerEngineStandIn

    def setup(self) -> None:
        super().setup()
        self.engine._connections.add(self.connection)

    def finish(self) -> None:
        self.engine._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    # -- routing ---------------------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if match := _VERSIONED.match(path):
            path = match.group(1)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        engine = self.engine
        if path == "/_ping":
            return self._send(200, b"OK", "text/plain")
        if path == "/version":
            return self._json(200, {"Version": "24.0.7", "ApiVersion": engine.api_version, "MinAPIVersion": "1.12",
                                    "Os": "linux", "Arch": "amd64"})
        if match := re.fullmatch(r"/containers/([^/]+)/(json|restart|stop|start|exec)", path):
            name, verb = match.groups()
            container = engine.find_container(name)
            if container is None:
                return self._json(404, {"message": f"No such container: {name}"})
            return self._container(method, container, verb, query, body)
        if match := re.fullmatch(r"/exec/([^/]+)/(start|json)", path):
            exec_id, verb = match.groups()
            job = engine.execs.get(exec_id)
            if job is None:
                return self._json(404, {"message": f"No such exec instance: {exec_id}"})
            if verb == "json" and method == "GET":
                return self._json(200, {"ID": job.id, "Running": job.running, "ExitCode": job.exit_code,
                                        "ContainerID": job.container.id, "Pid": job.pid, "OpenStdin": job.attach_stdin,
                                        "ProcessConfig": {"entrypoint": job.argv[0], "arguments": job.argv[1:],
                                                          "tty": False}})
            if verb == "start" and method == "POST":
                return self._exec_start(job, json.loads(body or b"{}"))
        if match := re.fullmatch(r"/images/(.+)/(json|tag)", path):
            name, verb = match.groups()
            image_id = engine._image(name)
            if image_id is None:
                return self._json(404, {"message": f"No such image: {_normal(name)}"})
            if verb == "json" and method == "GET":
                tags = sorted(ref for ref, i in engine.images.items() if i == image_id)
                return self._json(200, {"Id": image_id, "RepoTags": tags})
            if verb == "tag" and method == "POST":
                reference = f"{query.get('repo', '')}:{query.get('tag') or 'latest'}"
                with engine.lock:
                    engine.images[reference] = image_id
                    engine.calls.append(Call("tag", _normal(name), dict(query)))
                return self._send(201, b"", "text/plain")
        return self._json(404, {"message": "page not found"})

    def _container(self, method: str, container: Container, verb: str, query: dict[str, str], body: bytes) -> None:
        engine = self.engine
        if verb == "json" and method == "GET":
            running = container.status == "running"
            return self._json(200, {
                "Id": container.id, "Name": f"/{container.name}", "Image": engine.images.get(container.image, ""),
                "State": {"Status": container.status, "Running": running, "ExitCode": 0 if running else 137},
                "Config": {"Image": container.image, "Tty": False, "Labels": {}},
            })
        if method != "POST":
            return self._json(404, {"message": "page not found"})
        if verb == "exec":
            if container.status != "running":
                return self._json(409, {"message": f"Container {container.id} is not running"})
            spec = json.loads(body or b"{}")
            job = _Exec(uuid.uuid4().hex + uuid.uuid4().hex, container, list(spec.get("Cmd") or []),
                        list(spec.get("Env") or []), spec.get("WorkingDir"), bool(spec.get("AttachStdin")))
            with engine.lock:
                engine.execs[job.id] = job
                engine.calls.append(Call("exec", container.name, {"argv": " ".join(job.argv)}))
            return self._json(201, {"Id": job.id})
        with engine.lock:
            engine.calls.append(Call(verb, container.name, dict(query)))
        if verb == "start" and container.status == "running":
            return self._send(304, b"", "text/plain")
        if verb == "stop" and container.status != "running":
            return self._send(304, b"", "text/plain")
        if verb in ("stop", "restart") and container.status == "running" and container.stop_seconds:
            time.sleep(min(container.stop_seconds, float(query.get("t", 10))))
        container.status = "exited" if verb == "stop" else "running"
        return self._send(204, b"", "text/plain")

    # -- exec: a hijacked connection carrying multiplexed frames ---------------------------------------

    def _exec_start(self, job: _Exec, spec: dict[str, Any]) -> None:
        if job.running or job.exit_code is not None:
            return self._json(409, {"message": f"exec {job.id} has already run"})
        upgrade = self.headers.get("Upgrade", "").lower() == "tcp"
        self.send_response(101 if upgrade else 200, "UPGRADED" if upgrade else "OK")
        self.send_header("Content-Type", "application/vnd.docker.raw-stream")
        if upgrade:
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
        self.end_headers()
        self.close_connection = True
        # The real engine starts the process after sending the headers. The SDK reads frames from the
        # raw socket, so bytes arriving in the same read as the headers would be lost to it: give the
        # client a moment to take the headers first.
        time.sleep(0.02)
        env = dict(os.environ)
        env.update(item.split("=", 1) for item in job.env if "=" in item)
        write_lock = threading.Lock()

        def send(kind: int, data: bytes) -> None:
            with write_lock:
                self.wfile.write(struct.pack(">BxxxL", kind, len(data)) + data)

        job.running = True
        try:
            proc = subprocess.Popen(job.argv, cwd=job.workdir, env=env, start_new_session=True,
                                    stdin=subprocess.PIPE if job.attach_stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            with suppress(OSError):
                send(STDOUT, f"OCI runtime exec failed: exec failed: {exc.strerror}: {job.argv[0]}\r\n".encode())
            job.running, job.exit_code = False, 127 if isinstance(exc, FileNotFoundError) else 126
            return
        job.pid = proc.pid
        if job.attach_stdin:
            threading.Thread(target=self._feed, args=(proc,), daemon=True).start()
        broken = threading.Event()

        def pump(stream: Any, kind: int) -> None:
            with stream:
                for chunk in iter(lambda: stream.read1(65536), b""):
                    try:
                        send(kind, chunk)
                    except OSError:  # the client went away: the real engine would let it run on
                        broken.set()
                        proc.kill()
                        return

        pumps = [threading.Thread(target=pump, args=(proc.stdout, STDOUT), daemon=True),
                 threading.Thread(target=pump, args=(proc.stderr, STDERR), daemon=True)]
        for thread in pumps:
            thread.start()
        for thread in pumps:
            thread.join()
        job.exit_code = proc.wait()
        job.running = False

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        """The client's bytes after the request are the process's stdin; its half-close is EOF."""
        assert proc.stdin is not None
        with suppress(OSError, ValueError):
            for chunk in iter(lambda: self.rfile.read1(65536), b""):
                proc.stdin.write(chunk)
        with suppress(OSError):
            proc.stdin.close()

    # -- responses -------------------------------------------------------------------------------------

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Api-Version", self.engine.api_version)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
