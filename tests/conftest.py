"""Shared fixtures, and the kind of every test.

Kinds (lightest first): ``unit`` (code on its own: parsers, rules, SQLite files, short local
processes), ``integration`` (a real service a fixture starts: PostgreSQL, nginx, the suite's own
Docker Engine or its API stand-in, the sandbox Slack server), ``e2e`` (the bot itself, driven by signed Slack requests
or webhooks). A test module declares its kind with ``pytestmark = pytest.mark.kind("unit")`` (a
test may declare a heavier one); using PostgreSQL, the Docker Engine or its stand-in makes a test
``integration`` at least. Each test then carries exactly one of the markers ``unit``,
``integration``, ``e2e``, so ``./dev test -m unit`` runs the fast ones.

Databases and engines:
- ``postgres_server`` (session): one throwaway PostgreSQL (see bot/sandbox/services/postgres.py).
- ``postgres_url``: a fresh, empty PostgreSQL database for one test (dropped afterwards).
- ``database_url``: parametrized ``sqlite`` / ``postgresql``; the test runs once against each.
- ``docker_stand_in``: the Docker Engine API stand-in (tests/support/docker_engine.py); ``engine``
  always means a database engine.
- ``dockerd`` (session): the suite's own Docker Engine (tests/support/dockerd.py), started on first use.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.services.postgres import PostgresServer
from tests.support.docker_engine import DockerEngineStandIn
from tests.support.dockerd import Dockerd

_db_counter = itertools.count(1)
KINDS = ("unit", "integration", "e2e")
_FIXTURE_KINDS = {"postgres_server": "integration", "docker_stand_in": "integration", "dockerd": "integration"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        declared = [mark.args[0] for mark in item.iter_markers("kind")]
        implied = [kind for fixture, kind in _FIXTURE_KINDS.items() if fixture in item.fixturenames]
        unknown = [kind for kind in declared if kind not in KINDS]
        if not declared or unknown:
            raise pytest.UsageError(f"{item.nodeid}: declare its kind, one of {', '.join(KINDS)} "
                                    '(pytestmark = pytest.mark.kind("unit"); see tests/conftest.py)')
        item.add_marker(max(declared + implied, key=KINDS.index))


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox Slack of its own, for tests that run the bot as a separate process."""
    with SandboxServer(default_workspace()) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t{next(_db_counter)}_{slug}"
    url = postgres_server.create_database(name)
    yield url
    if postgres_server.is_running():
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.kind("integration"))],
                ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/opsbot.db"
    # Only tests that take the postgresql param start the server.
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def docker_stand_in(tmp_path) -> Iterator[DockerEngineStandIn]:
    """The Docker Engine API stand-in with a running ``web``, an exited ``worker`` and ``app:backup``."""
    with DockerEngineStandIn(tmp_path) as stand_in:
        stand_in.add_container("web")
        stand_in.add_container("worker", status="exited")
        stand_in.add_image("app:backup")
        yield stand_in


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    with Dockerd() as engine:
        yield engine
