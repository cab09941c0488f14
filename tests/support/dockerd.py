"""A Docker Engine of the suite's own: ``dockerd`` started as root in a network namespace of its own,
its socket, pid file and exec-root in a temporary folder, its images in a cache folder that outlives
the run (``${XDG_CACHE_HOME:-~/.cache}/opsbot/docker/<slot>``) so that builds are reused.

Why a namespace: another engine on the machine sets the host's FORWARD policy to DROP, and with
``br_netfilter`` loaded that drops traffic between containers on any other bridge. In a namespace
of its own the engine's bridges meet no foreign firewall, and the engine needs no iptables at all
(``--iptables=false``); nothing of the host's network, /etc or /var is touched. Its containers
reach the host only through the forwards of tests/support/netns.py: an image build reaches
Debian's mirror and PyPI through names pinned with ``--add-host`` to loopback addresses of the
namespace, and the bot in its container reaches the sandbox Slack server at ``GATEWAY``, an address
of the namespace's loopback. Published ports are on the namespace's 127.0.0.1; ``publish`` makes
one reachable on the host's 127.0.0.1.

A slot's cache is used by one engine at a time (a lock held by dockerd itself, so an engine that
outlived a killed test run keeps its slot); a second suite on the machine takes the next slot."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import docker
import docker.errors

from tests.support.netns import Forward, NetworkNamespace, connect_here, listen_here
from tests.support.waiting import eventually

CLIENT = "/usr/bin/docker"  # Debian's docker.io client: BuildKit built in (a newer client would need buildx)
COMPOSE = "docker-compose"
BASE_IMAGE = "opsbot-base:trixie"
GATEWAY = "10.213.255.254"
"""An address on the engine namespace's loopback: containers reach it through their network's gateway."""
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What an image build downloads from: each name pinned to a loopback address of the namespace where a
# forward to the real host listens (TLS goes through untouched: the client still checks the name).
BUILD_HOSTS = {"deb.debian.org": ("127.0.1.1", 80), "pypi.org": ("127.0.1.2", 443),
               "files.pythonhosted.org": ("127.0.1.3", 443)}
SLOTS = 4


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "opsbot" / "docker"


class Dockerd:
    """``slot``: a named cache of its own (a benchmark's, say) instead of the first free numbered one."""

    def __init__(self, slot: str | None = None) -> None:
        self.slot = slot
        self.folder = Path(tempfile.mkdtemp(prefix="opsbot-dockerd-"))  # short: socket paths are limited
        self.socket = self.folder / "docker.sock"
        self.base_url = f"unix://{self.socket}"
        self.log = self.folder / "dockerd.log"
        self.data_root: Path | None = None
        self.netns: NetworkNamespace | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self._forwards: list[Forward] = []
        self._internet = False
        self._internet_lock = threading.Lock()
        self._base_lock = threading.Lock()
        self.api: docker.APIClient | None = None

    # -- life --------------------------------------------------------------------------------------------

    def start(self) -> Dockerd:
        _require()
        self._lock, self.data_root = _claim_slot(self.slot)
        (self.folder / "daemon.json").write_text("{}\n")  # not the host's /etc/docker/daemon.json
        script = (f"ip link set lo up && ip addr add {GATEWAY}/32 dev lo && exec dockerd"
                  f" --config-file {self.folder}/daemon.json --host {self.base_url}"
                  f" --pidfile {self.folder}/docker.pid --exec-root {self.folder}/exec"
                  f" --data-root {self.data_root} --iptables=false --ip6tables=false")
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", script], stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          pass_fds=(self._lock,))
        os.close(self._lock)  # dockerd holds the slot's lock from here on
        self._lock = None
        self.netns = NetworkNamespace(self._proc.pid)
        try:
            eventually(self._answers, timeout=60, interval=0.2, what=f"dockerd to answer (log: {self.log})")
            self._clear()
        except BaseException:
            self.stop()  # never leave an engine (and its slot) behind
            raise
        return self

    def stop(self) -> None:
        for forward in self._forwards:
            forward.close()
        self._forwards.clear()
        if self.api is not None:
            with suppress(docker.errors.DockerException, OSError):
                self._clear()
            self.api.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, 9)
                self._proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Dockerd:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _answers(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise AssertionError(f"dockerd exited with {self._proc.returncode}:\n{self.log.read_text()[-3000:]}")
        if not self.socket.exists():
            return False
        try:
            self.api = docker.APIClient(base_url=self.base_url, version="auto", timeout=120)
            return bool(self.api.ping())
        except docker.errors.DockerException:
            return False

    def _clear(self) -> None:
        """Whatever an earlier run left in this slot (everything in it is the suite's): containers,
        networks and volumes go; images stay, they are the cache."""
        assert self.api is not None
        for container in self.api.containers(all=True):
            self.api.remove_container(container["Id"], force=True, v=True)
        self.api.prune_networks()
        self.api.prune_volumes()
        self.api.prune_images(filters={"dangling": True})

    # -- commands ----------------------------------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        return {**env, "DOCKER_HOST": self.base_url, "DOCKER_BUILDKIT": "1", **(extra or {})}

    def cli(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([CLIENT, *args], env=self.env(), input=input, capture_output=True)
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited with {done.returncode}:\n"
                                 f"{done.stderr.decode(errors='replace')[-3000:]}")
        return done

    def compose(self, project: str, *args: str, env: Mapping[str, str] | None = None,
                files: Sequence[Path] = (), cwd: Path | None = None, check: bool = True) -> str:
        command = [COMPOSE, "--no-ansi", "-p", project, *(a for f in files for a in ("-f", str(f))), *args]
        done = subprocess.run(command, env=self.env(env), cwd=cwd, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr[-3000:]}")
        return done.stdout

    def run_container(self, name: str, *command: str, image: str = BASE_IMAGE, running: bool = True,
                      stop_signal: str = "SIGKILL", **host: object) -> str:
        """A container of the base image (``sleep infinity`` by default), no network unless asked; its ID.
        One of that name left by an earlier test goes first. SIGKILL stops it at once unless told."""
        assert self.api is not None
        self.ensure_base_image()
        self.remove_container(name)
        host_config = self.api.create_host_config(**{"network_mode": "none", **host})
        created = self.api.create_container(image, list(command) or ["sleep", "infinity"], name=name,
                                            host_config=host_config, stop_signal=stop_signal)
        if running:
            self.api.start(created["Id"])
        return str(created["Id"])

    def remove_container(self, name: str) -> None:
        assert self.api is not None
        with suppress(docker.errors.NotFound):
            self.api.remove_container(name, force=True)

    def image(self, reference: str, *changes: str) -> str:
        """A new image ``reference``: the base image with Dockerfile ``changes`` (``ENV RELEASE=1``),
        made by a commit, so instant, and with an ID of its own."""
        assert self.api is not None
        self.ensure_base_image()
        holder = self.run_container(f"image-{os.getpid()}", running=False)
        try:
            repository, _, tag = reference.partition(":")
            committed = self.api.commit(holder, repository, tag or "latest",
                                        changes=[*changes, f"LABEL made={time.monotonic_ns()}"])
        finally:
            self.remove_container(f"image-{os.getpid()}")
        return str(committed["Id"])

    def image_id(self, reference: str) -> str | None:
        assert self.api is not None
        try:
            return str(self.api.inspect_image(reference)["Id"])
        except docker.errors.ImageNotFound:
            return None

    def events(self, since: float) -> list[tuple[str, str]]:
        """(action, container or image name) of what the engine did since ``since`` (a time.time())."""
        assert self.api is not None
        found = self.api.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                filters={"type": ["container", "image"]})
        return [(e["Action"].split(":")[0], e["Actor"]["Attributes"].get("name", e["Actor"]["ID"])) for e in found
                if e["timeNano"] >= since * 1e9]

    def ensure_base_image(self) -> None:
        """``opsbot-base:trixie``: Debian trixie's minimal system (debootstrap) imported as an image,
        the ``FROM`` of every image the suite builds (no registry is reachable). Made once, even
        when builds start side by side."""
        with self._base_lock:
            if not self.image_id(BASE_IMAGE):
                self._make_base_image()

    def _make_base_image(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="opsbot-debootstrap-"))
        try:
            subprocess.run(["debootstrap", "--variant=minbase", "trixie", str(root), "http://deb.debian.org/debian"],
                           check=True, capture_output=True)
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            imported = subprocess.run([CLIENT, "import", "-", BASE_IMAGE], stdin=tar.stdout, env=self.env(),
                                      capture_output=True)
            tar.stdout.close()
            assert tar.wait() == 0 and imported.returncode == 0, imported.stderr.decode(errors="replace")
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def build(self, context: Path, tag: str, *, target: str | None = None,
              args: Mapping[str, str] | None = None) -> float:
        """``docker build`` with BuildKit, ``FROM opsbot-base:trixie``, the machine's CA bundle as the
        ``pip_ca`` secret; the seconds it took."""
        self.ensure_base_image()
        command = ["build", "--network", "host", "--build-arg", f"BASE={BASE_IMAGE}", "-t", tag, "--progress", "plain"]
        for name, (address, _port) in BUILD_HOSTS.items():
            command += ["--add-host", f"{name}:{address}"]
        if CA_BUNDLE.is_file():
            command += ["--secret", f"id=pip_ca,src={CA_BUNDLE}"]
        if target:
            command += ["--target", target]
        for name, value in (args or {}).items():
            command += ["--build-arg", f"{name}={value}"]
        started = time.monotonic()
        self._open_internet()
        self.cli(*command, str(context))
        return time.monotonic() - started

    def _open_internet(self) -> None:
        """The forwards to ``BUILD_HOSTS``, opened by the first build (builds may run side by side)."""
        assert self.netns is not None
        with self._internet_lock:
            if self._internet:
                return
            for name, (address, port) in BUILD_HOSTS.items():
                self._forwards.append(Forward(self.netns.listen(address, port),
                                              lambda n=name, p=port: connect_here(n, p), name))
            self._internet = True

    # -- reaching in and out ----------------------------------------------------------------------------

    def publish(self, port: int, host: str = "127.0.0.1", *, container: str | None = None) -> int:
        """``host:port`` of the engine's namespace (a published port, a container's address), or of a
        running container's own namespace (its loopback), on the host's 127.0.0.1; returns the host
        port. Closed with the engine."""
        assert self.netns is not None and self.api is not None
        netns = NetworkNamespace(self.api.inspect_container(container)["State"]["Pid"]) if container else self.netns
        forward = Forward(listen_here(), lambda: netns.connect(host, port), f"publish-{port}")
        self._forwards.append(forward)
        return forward.port

    def expose(self, port: int) -> str:
        """The host's ``127.0.0.1:port`` to the engine's containers: returns the address they use."""
        assert self.netns is not None
        forward = Forward(self.netns.listen(GATEWAY, port), lambda: connect_here("127.0.0.1", port), f"expose-{port}")
        self._forwards.append(forward)
        return f"{GATEWAY}:{port}"


def _require() -> None:
    if os.geteuid() != 0:
        raise AssertionError("the suite's Docker Engine runs dockerd, which needs root (run ./dev test as root)")
    for tool in ("dockerd", "unshare", "ip", CLIENT, COMPOSE, "debootstrap"):
        if shutil.which(tool) is None:
            raise AssertionError(f"{tool} is missing: ./dev bootstrap installs docker.io, docker-compose, "
                                 "debootstrap")


def _claim_slot(named: str | None) -> tuple[int, Path]:
    """The first cache slot no other engine holds (or the named one): (its lock's file descriptor, its data root)."""
    root = cache_folder()
    root.mkdir(parents=True, exist_ok=True)
    for slot in [named] if named else range(SLOTS):
        fd = os.open(root / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd, root / str(slot)
    raise AssertionError(f"the Docker Engine slot(s) {named or f'0-{SLOTS - 1}'} in {root} are in use by other runs")
