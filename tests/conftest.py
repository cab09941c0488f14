"""Shared fixtures.

Databases and engines:
- ``postgres_server`` (session): one throwaway PostgreSQL (see tests/support/postgres.py).
- ``postgres_url``: a fresh, empty PostgreSQL database for one test (dropped afterwards).
- ``database_url``: parametrized ``sqlite`` / ``postgresql``; the test runs once against each.
- ``docker_stand_in``: the Docker Engine API stand-in (tests/support/docker_engine.py); ``engine``
  always means a database engine.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from tests.support.docker_engine import DockerEngineStandIn
from tests.support.postgres import PostgresServer

_db_counter = itertools.count(1)


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


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
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
