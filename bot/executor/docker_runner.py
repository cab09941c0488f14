"""Containers for operations, through the docker SDK: exec an argv list in a named container
(output streamed to a file, never held in memory), restart/stop/start a container, tag an image.
Every engine error becomes a short StepFailed that says what was wrong (engine unreachable, no such
container, no such image), because it is shown in Slack and kept in the audit record."""

from __future__ import annotations

import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import IO, Any, BinaryIO

import docker
import docker.errors
import requests
import structlog
from docker.utils import parse_repository_tag

from bot.executor.local import telling_line
from bot.executor.plan import Cancelled, ProcessResult, StepFailed
from bot.identity import Identity

log = structlog.get_logger(__name__)
DEFAULT_BASE_URL = "unix:///var/run/docker.sock"
EXEC_MARK = "OPSBOT_EXEC"
"""Set in the environment of every exec (a random value each): how a second exec finds the first
one's processes inside the container to stop them (``DockerRunner.stop_marked``)."""
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL, as for local processes
_KILL_MARKED = ('for p in /proc/[0-9]*; do '
                'if tr "\\000" "\\n" < "$p/environ" 2>/dev/null | grep -qx "$2" && kill -"$1" "${p#/proc/}"; '
                'then echo "${p#/proc/}"; fi; done 2>/dev/null; true')
"""``sh -c`` script: signal $1 to every process of the container whose environment holds the line $2,
printing the PIDs it signalled (with $1 = 0: the PIDs of those still alive)."""
ExecTrack = Callable[[Identity, str, str, Sequence[str]], Callable[[], None]]
"""Told of each exec as it starts (the Engine's address as its machine with the daemon's PID for
it, its container, its mark, its argv); returns what to call once it has ended. The worker records
it for its run, so that the next start after a crash of the bot can stop it (``stop_marked``)."""
TAIL_BYTES = 16_384
CHUNK = 1 << 20  # the most read from the stream at once: memory stays flat whatever the output size
WATCH = 0.1  # seconds between cancel/deadline checks while an exec streams
_STDOUT, _STDERR = 1, 2


class DockerRunner:
    """The ``DockerEngine`` of ``bot.executor.plan`` over the docker SDK's low-level API.

    The client is made on first use, so a bot without Docker starts fine and only a step that needs
    the engine fails ("cannot reach the Docker engine at …"). ``cancel`` and ``deadline`` stop an
    exec while it streams, as the local runner does for processes."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, redact: Callable[[str], str],
                 cancel: threading.Event | None = None, deadline: float | None = None,
                 timeout_seconds: int = 60, track: ExecTrack | None = None) -> None:
        self.base_url = base_url
        self._redact = redact
        self._cancel = cancel or threading.Event()
        self._deadline = deadline
        self._timeout = timeout_seconds
        self._track = track
        self._client: docker.APIClient | None = None

    # -- DockerEngine ----------------------------------------------------------------------------------

    def exec(self, container: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             stdout: Path | None = None, stdin: BinaryIO | None = None, check: bool = True) -> ProcessResult:
        """``docker exec [-i] <container> argv…`` with stdout to ``stdout`` (or into the output tail)."""
        if not argv:
            raise StepFailed("nothing to run")
        argv = [str(a) for a in argv]
        redact = self._redactor(env)
        started = time.monotonic()
        self._check()
        mark = secrets.token_hex(8)
        with self._errors(redact, container=container):
            api = self._api()
            exec_id = api.exec_create(container, argv, stdin=stdin is not None,
                                      environment={**dict(env or {}), EXEC_MARK: mark})["Id"]
            conn = api.exec_start(exec_id, socket=True)
        ended = self._tracked(container, exec_id, mark, argv, conn)
        tail = _Tail()
        try:
            with ExitStack() as stack:
                out = stack.enter_context(stdout.open("wb")) if stdout else None
                stopped = self._stream(conn, out, tail, stdin)
            if stopped:
                self.stop_marked(container, mark)
        finally:
            ended()
        if stopped:
            raise Cancelled(stopped)
        with self._errors(redact, container=container):
            code = self._exit_code(exec_id)
        result = ProcessResult(tuple(argv), code, redact(tail.text()), time.monotonic() - started)
        if check and code != 0:
            raise StepFailed(f"{Path(argv[0]).name} in container {container} exited with {code}: "
                             f"{telling_line(result.output)}")
        return result

    def restart(self, container: str, *, timeout_seconds: int = 10) -> None:
        self._check()
        with self._errors(self._redact, container=container):
            self._api().restart(container, timeout=timeout_seconds)

    def stop(self, container: str, *, timeout_seconds: int = 10) -> None:
        self._check()
        with self._errors(self._redact, container=container):
            self._api().stop(container, timeout=timeout_seconds)

    def start(self, container: str) -> None:
        self._check()
        with self._errors(self._redact, container=container):
            self._api().start(container)

    def recreate(self, container: str, *, timeout_seconds: int = 10) -> str:
        """What ``docker compose up`` does to one container whose image moved: a new container with
        the same settings from the image its reference (``app:latest``) names now, in the old one's
        place (name, networks and their aliases, volumes, ports). A restart would run the old image
        again. Settings the old container only inherited from its old image (environment defaults,
        command, user…) are left out, so the new image's own apply. The old container is removed
        once the new one has started; if anything fails before that, it is put back and started.
        Anonymous volumes are not carried over. Returns the new container's image ID."""
        self._check()
        with self._errors(self._redact, container=container):
            api = self._api()
            old = api.inspect_container(container)
            reference = old["Config"]["Image"]
            try:
                image = api.inspect_image(reference)
            except docker.errors.ImageNotFound:
                raise StepFailed(f"container {container}: no such image: {reference}") from None
            inherited = api.inspect_image(old["Image"])["Config"] or {}
            name, was_running = old["Name"].lstrip("/"), bool(old["State"]["Running"])
            config, extra_networks = _recreated_config(old, inherited)
            api.stop(old["Id"], timeout=timeout_seconds)
            api.rename(old["Id"], f"{name}-replaced-{old['Id'][:12]}")
            new_id = None
            try:
                new_id = api.create_container_from_config(config, name)["Id"]
                for network, endpoint in extra_networks.items():
                    api.connect_container_to_network(new_id, network, aliases=endpoint.get("Aliases"),
                                                     links=endpoint.get("Links"))
                if was_running:
                    api.start(new_id)
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                with suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    if new_id is not None:
                        api.remove_container(new_id, force=True)
                    api.rename(old["Id"], name)
                    if was_running:
                        api.start(old["Id"])
                raise
            api.remove_container(old["Id"])
            return str(image["Id"])

    def tag(self, image: str, new_reference: str) -> None:
        """``docker tag app:backup app:latest``: ``new_reference`` is ``repository[:tag]``."""
        self._check()
        repository, tag = parse_repository_tag(new_reference)
        if not repository or "@" in new_reference:
            raise StepFailed(f"{new_reference!r} is not an image reference to tag as")
        with self._errors(self._redact, image=image):
            self._api().tag(image, repository, tag or "latest")

    def image_id(self, reference: str) -> str | None:
        """The ID ``reference`` names now (``docker image inspect``), or None when there is none."""
        self._check()
        with self._errors(self._redact, image=reference):
            try:
                return str(self._api().inspect_image(reference)["Id"])
            except docker.errors.ImageNotFound:
                return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the exec stream ---------------------------------------------------------------------------------

    def _stream(self, conn: Any, out: IO[bytes] | None, tail: _Tail, stdin: BinaryIO | None) -> str | None:
        """Read the engine's frames (8-byte header: stream, 0, 0, 0, big-endian length) until the
        exec ends; stdout frames go to ``out`` (or the tail), stderr frames to the tail. Returns why
        it stopped early (cancelled / timed out), or None."""
        sock: socket.socket = getattr(conn, "_sock", conn)
        sock.settimeout(None)  # a quiet process (pg_restore) may say nothing for minutes
        reader = _buffered(conn)
        done = threading.Event()
        why: list[str] = []

        def watch() -> None:
            while not done.wait(WATCH):
                reason = self._stop_reason()
                if reason:
                    why.append(reason)
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)  # unblocks the read below
                    return

        threading.Thread(target=watch, daemon=True).start()
        if stdin is not None:
            threading.Thread(target=_feed, args=(stdin, sock), daemon=True).start()
        try:
            while header := _read_exactly(reader, 8):
                kind, length = struct.unpack(">BxxxL", header)
                while length:
                    chunk = reader.read(min(length, CHUNK))
                    if not chunk:
                        break
                    length -= len(chunk)
                    if kind == _STDOUT and out is not None:
                        out.write(chunk)
                    else:
                        tail.add(chunk)
        except OSError:
            if not why:
                raise StepFailed("the connection to the Docker engine broke during docker exec") from None
        finally:
            done.set()
            with suppress(OSError):
                conn.close()
            with suppress(OSError):
                sock.close()
        return why[0] if why else None

    def _tracked(self, container: str, exec_id: str, mark: str, argv: Sequence[str], conn: Any) -> Callable[[], None]:
        """Tell ``track`` of the exec (its daemon PID from ``exec inspect``, for the log); a failure to
        record it stops it, as the local runner does."""
        if self._track is None:
            return lambda: None
        pid = 0
        with suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            pid = int(self._api().exec_inspect(exec_id).get("Pid") or 0)
        try:
            return self._track(Identity(self.base_url, pid, 0), container, mark, argv)
        except BaseException:
            with suppress(OSError):
                conn.close()
            self.stop_marked(container, mark)
            raise

    def stop_marked(self, container: str, mark: str, *, grace: float = KILL_GRACE) -> bool:
        """Stop an exec: the Engine API can close its stream but cannot signal it, and the PID ``exec
        inspect`` reports is the daemon's, not the container's (a ``kill`` of it in the container would
        hit whatever has that number there). So a second exec signals, inside the container, the
        processes whose environment carries the exec's mark (its children inherit it): SIGTERM, then
        SIGKILL to what is left after ``grace``. Needs ``sh``, ``tr`` and ``grep`` in the image.
        Returns whether any process was signalled; what cannot be stopped is logged."""
        signalled = False
        try:
            for sig in ("TERM", "KILL"):
                found = self._signal_marked(container, mark, sig)
                signalled = signalled or bool(found)
                until = time.monotonic() + grace
                while found and time.monotonic() < until:
                    time.sleep(WATCH)
                    found = self._signal_marked(container, mark, "0")
                if not found:
                    return signalled
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("docker_exec_not_stopped", container=container, error=type(exc).__name__)
            return signalled
        log.warning("docker_exec_still_running", container=container)
        return signalled

    def _signal_marked(self, container: str, mark: str, sig: str) -> list[str]:
        """Send ``sig`` (``0``: only look) to the marked processes; their PIDs in the container."""
        api = self._api()
        killer = api.exec_create(container, ["sh", "-c", _KILL_MARKED, "sh", sig, f"{EXEC_MARK}={mark}"])
        return api.exec_start(killer["Id"]).decode(errors="replace").split()

    def _exit_code(self, exec_id: str) -> int:
        """The engine may report the exec as running for a moment after its stream ends."""
        until = time.monotonic() + 10
        while True:
            info = self._api().exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            if time.monotonic() > until:
                raise StepFailed("the Docker engine did not report the exec's exit code")
            time.sleep(0.05)

    # -- plumbing ----------------------------------------------------------------------------------------

    def _api(self) -> docker.APIClient:
        if self._client is None:
            try:
                self._client = docker.APIClient(base_url=self.base_url, version="auto", timeout=self._timeout)
            except docker.errors.DockerException as exc:
                raise StepFailed(f"cannot reach the Docker engine at {self.base_url}: {_reason(exc)}") from None
        return self._client

    @contextmanager
    def _errors(self, redact: Callable[[str], str], *, container: str | None = None,
                image: str | None = None) -> Iterator[None]:
        """Engine errors as StepFailed messages that say what to fix."""
        try:
            yield
        except docker.errors.NotFound as exc:
            if image is not None:
                raise StepFailed(f"no such image: {image}") from None
            if container is not None and "container" in str(exc.explanation).lower():
                raise StepFailed(f"no such container: {container}") from None
            raise StepFailed(redact(f"the Docker engine said: {exc.explanation}")) from None
        except docker.errors.APIError as exc:
            if container is not None and "is not running" in str(exc.explanation):
                raise StepFailed(f"container {container} is not running") from None
            what = f"container {container}" if container else f"image {image}"
            raise StepFailed(redact(f"{what}: the Docker engine said: {exc.explanation or exc}")[:400]) from None
        except requests.exceptions.Timeout:
            raise StepFailed(f"the Docker engine at {self.base_url} did not answer in time") from None
        except requests.exceptions.ConnectionError as exc:
            raise StepFailed(f"cannot reach the Docker engine at {self.base_url}: {_reason(exc)}") from None
        except docker.errors.DockerException as exc:
            raise StepFailed(redact(f"docker: {exc}")[:400]) from None

    def _stop_reason(self) -> str | None:
        if self._cancel.is_set():
            return "cancelled"
        if self._deadline is not None and time.monotonic() > self._deadline:
            return "timed out"
        return None

    def _check(self) -> None:
        reason = self._stop_reason()
        if reason:
            raise Cancelled(reason)

    def _redactor(self, env: Mapping[str, str] | None) -> Callable[[str], str]:
        """The runner's redaction plus the values handed to the exec (a PGPASSWORD, say)."""
        secrets = sorted((v for v in (env or {}).values() if len(v) >= 4), key=len, reverse=True)

        def redact(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, "[redacted]")
            return self._redact(text)

        return redact


class DockerLookups:
    """``Lookups`` through the engine, one short-lived client per look-up: plans are built rarely,
    and a bot without Docker must not hold a connection (or fail) until a plan needs one."""

    def __init__(self, base_url: str, *, redact: Callable[[str], str], timeout_seconds: int = 10) -> None:
        self._base_url = base_url
        self._redact = redact
        self._timeout = timeout_seconds

    def image_id(self, reference: str) -> str | None:
        runner = DockerRunner(self._base_url, redact=self._redact, timeout_seconds=self._timeout)
        try:
            return runner.image_id(reference)
        finally:
            runner.close()


# Container settings that default to the image's: left out of a recreated container when they are
# still what the old image said, so the new image's own values apply.
_IMAGE_DEFAULTS = ("Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Healthcheck",
                   "StopSignal", "Shell")
_NOT_ALIASES = ("bridge", "host", "none", "default")


def _recreated_config(old: Mapping[str, Any], inherited: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The create request for ``old``'s replacement: its own settings, the image by reference, its
    host settings, and its first network (the others, returned apart, are connected after create)."""
    config = {key: value for key, value in old["Config"].items() if key not in ("Image", "Hostname", *_IMAGE_DEFAULTS)}
    if old["Config"].get("Hostname") != old["Id"][:12]:  # the engine's default hostname is the short ID
        config["Hostname"] = old["Config"].get("Hostname")
    for key in _IMAGE_DEFAULTS:
        if old["Config"].get(key) != inherited.get(key):
            config[key] = old["Config"].get(key)
    config["Env"] = [e for e in old["Config"].get("Env") or [] if e not in (inherited.get("Env") or [])]
    config["Labels"] = {k: v for k, v in (old["Config"].get("Labels") or {}).items()
                        if (inherited.get("Labels") or {}).get(k) != v}
    config["Image"] = old["Config"]["Image"]
    config["HostConfig"] = old["HostConfig"]
    mode = str(old["HostConfig"].get("NetworkMode") or "")
    endpoints = {}
    if mode not in _NOT_ALIASES and not mode.startswith("container:"):
        for network, settings in (old["NetworkSettings"].get("Networks") or {}).items():
            endpoints[network] = {"Aliases": [a for a in settings.get("Aliases") or [] if a != old["Id"][:12]],
                                  "Links": settings.get("Links")}
    first = {mode: endpoints.pop(mode)} if mode in endpoints else {}
    if first:
        config["NetworkingConfig"] = {"EndpointsConfig": first}
    return config, endpoints


def _buffered(conn: Any) -> Any:
    """What to read the stream from. The SDK hands back the raw socket, but http.client has read the
    101 headers through a buffer that may already hold the stream's first bytes: read through that
    buffer (kept by the SDK as ``conn._response``) so nothing is lost."""
    with suppress(AttributeError):
        return conn._response.raw._fp.fp
    return conn


def _read_exactly(reader: Any, n: int) -> bytes:
    """n bytes, or b"" at the end of the stream (a short header is the end too)."""
    data = reader.read(n)
    while data and len(data) < n:
        more = reader.read(n - len(data))
        if not more:
            return b""
        data += more
    return data if len(data) == n else b""


def _feed(source: BinaryIO, sock: socket.socket) -> None:
    """stdin for the exec: the bytes after the request, then a half-close, which the engine reads as EOF."""
    with suppress(OSError):
        for chunk in iter(lambda: source.read(65536), b""):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)


def _reason(exc: BaseException) -> str:
    """The innermost cause, short: "No such file or directory", "Connection refused"."""
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied", "timed out"):
        if marker in text:
            return marker.lower()
    return text[:200]


class _Tail:
    """The last TAIL_BYTES of the output: an exec's output can be gigabytes, memory stays flat."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk[-TAIL_BYTES:])
        self._size += len(self._chunks[-1])
        while self._size - len(self._chunks[0]) >= TAIL_BYTES:
            self._size -= len(self._chunks.popleft())

    def text(self) -> str:
        return b"".join(self._chunks)[-TAIL_BYTES:].decode("utf-8", errors="replace")
