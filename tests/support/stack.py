"""The repository's ``compose.yaml`` run as it is on the suite's private Docker Engine: the bot in its
container (``opsbot serve``) with its PostgreSQL, and the example stack behind it. Slack is the
sandbox server in the test process; the bot reaches it through a forward (tests/support/dockerd.py),
and the test reaches the bot and the shop's nginx on ports forwarded to the host's 127.0.0.1."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from sqlalchemy import Engine, create_engine
from sqlmodel import Session, select

from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.workspace import Workspace
from storage.models import OutboundMessage
from tests.support.dockerd import Dockerd
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "opsbot-stack"
BOT_IMAGE, SERVICES_IMAGE, SHOP_IMAGE = "opsbot:latest", "opsbot-example:latest", "opsbot-shop"


@dataclass
class Images:
    seconds: dict[str, float] = field(default_factory=dict)
    """How long each build took this run (a warm cache makes them short)."""


def build_images(dockerd: Dockerd) -> Images:
    """Every image compose.yaml names, as ``docker compose build`` would make them, the bot's and the
    example's side by side; the shop twice: release 1 as ``:backup`` (what a deploy keeps) and
    release 2 as ``:latest``, for the rollback."""
    example = ROOT / "example"
    images = Images()
    with ThreadPoolExecutor(2) as pool:
        bot = pool.submit(dockerd.build, ROOT, BOT_IMAGE)
        images.seconds[SERVICES_IMAGE] = dockerd.build(example, SERVICES_IMAGE, target="services")
        for release, tag in (("1", "backup"), ("2", "latest")):
            images.seconds[f"{SHOP_IMAGE}:{tag}"] = dockerd.build(example, f"{SHOP_IMAGE}:{tag}", target="shop",
                                                                args={"RELEASE": release})
        images.seconds[BOT_IMAGE] = bot.result()
    return images


@dataclass
class Reply:
    status: int | None
    headers: dict[str, str]
    body: str


def get(url: str) -> Reply:
    try:
        with urlopen(url, timeout=5) as answer:
            return Reply(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read().decode())
    except HTTPError as exc:
        with exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode())
    except (URLError, OSError) as exc:
        return Reply(None, {}, str(exc))


class StackBot:
    """What tests/support/runs.py and the executor tests' helpers need: the simulator, the sandbox
    workspace and the bot's database (read through a forward to its PostgreSQL container)."""

    def __init__(self, sandbox: SandboxServer, url: str, engine: Engine) -> None:
        self.sandbox = sandbox
        self.url = url
        self.engine = engine
        self.slack = SlackSimulator(url, sandbox.workspace.identity.signing_secret, sandbox, timeout=30)

    @property
    def workspace(self) -> Workspace:
        return self.sandbox.workspace

    def settle(self) -> None:
        """The bot in its container delivers by itself: wait until nothing due is left in its outbox."""
        def quiet() -> bool:
            with Session(self.engine) as session:
                return session.exec(select(OutboundMessage).where(OutboundMessage.state != "sent")).first() is None

        eventually(quiet, timeout=30, what="the bot to deliver its queued Slack calls")

    def texts(self, channel_id: str) -> list[str]:
        return [m.text for m in self.workspace.messages(channel_id)]


@dataclass
class Stack:
    dockerd: Dockerd
    bot: StackBot
    shop_url: str
    images: Images
    up_seconds: float

    env: dict[str, str] = field(default_factory=dict)
    compose_project: str = PROJECT

    def compose(self, *args: str) -> str:
        return self.dockerd.compose(PROJECT, *args, env=self.env, files=[ROOT / "compose.yaml"], cwd=ROOT)

    def shop(self, path: str) -> Reply:
        return get(self.shop_url + path)

    def container(self, name: str) -> dict:
        assert self.dockerd.api is not None
        return self.dockerd.api.inspect_container(name)

    def exec(self, container: str, *argv: str) -> str:
        return self.dockerd.cli("exec", container, *argv).stdout.decode()


@contextmanager
def running_stack(dockerd: Dockerd) -> Iterator[Stack]:
    images = build_images(dockerd)
    sandbox = SandboxServer(default_workspace())
    sandbox.start()
    slack = dockerd.expose(int(sandbox.base_url.rsplit(":", 1)[1]))
    # response_urls are minted from the server's address: make them the one the bot can reach.
    sandbox.workspace.base_url = f"http://{slack}"
    identity = sandbox.workspace.identity
    env = {"SLACK_BOT_TOKEN": identity.token, "SLACK_SIGNING_SECRET": identity.signing_secret,
           "SLACK_API_URL": f"http://{slack}/api/", "DOCKER_SOCKET": str(dockerd.socket),
           "DOCKER_GID": str(os.stat(dockerd.socket).st_gid), "OPSBOT_TICK_SECONDS": "1",
           "OPSBOT_PORT": "3000", "SHOP_PORT": "8080"}
    stack_env = env
    compose = [ROOT / "compose.yaml"]
    try:
        started = time.monotonic()
        dockerd.compose(PROJECT, "up", "-d", "--no-build", env=stack_env, files=compose, cwd=ROOT)
        bot_url = f"http://127.0.0.1:{dockerd.publish(3000)}"
        shop_url = f"http://127.0.0.1:{dockerd.publish(8080)}"
        try:
            eventually(lambda: get(f"{bot_url}/healthz").status == 200, timeout=120, interval=0.5,
                       what="the bot in its container to answer /healthz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_logs(dockerd, stack_env)}") from None
        eventually(lambda: get(f"{shop_url}/health").status == 200, timeout=120, interval=0.5,
                   what="the shop to answer /health through nginx")
        up_seconds = time.monotonic() - started
        db = _container_address(dockerd, "opsbot-db")
        database = create_engine(f"postgresql+psycopg://opsbot:opsbot@127.0.0.1:{dockerd.publish(5432, db)}/opsbot",
                                 pool_pre_ping=True)
        try:
            yield Stack(dockerd, StackBot(sandbox, bot_url, database), shop_url, images, up_seconds, env=stack_env)
        finally:
            database.dispose()
    finally:
        dockerd.compose(PROJECT, "down", "-v", "--timeout", "1", env=stack_env, files=compose, cwd=ROOT, check=False)
        sandbox.stop()


def _container_address(dockerd: Dockerd, service: str) -> str:
    assert dockerd.api is not None
    [found] = dockerd.api.containers(filters={"label": [f"com.docker.compose.project={PROJECT}",
                                                       f"com.docker.compose.service={service}"]})
    return next(iter(found["NetworkSettings"]["Networks"].values()))["IPAddress"]


def _logs(dockerd: Dockerd, env: dict[str, str]) -> str:
    return dockerd.compose(PROJECT, "logs", "--tail", "30", "opsbot", env=env, files=[ROOT / "compose.yaml"],
                          cwd=ROOT, check=False)

