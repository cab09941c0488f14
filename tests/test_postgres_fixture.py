"""The throwaway PostgreSQL server and the database fixtures."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from bot.sandbox.services import postgres as pg
from bot.sandbox.services.postgres import PostgresNotFound, PostgresServer

pytestmark = pytest.mark.kind("integration")


@contextlib.contextmanager
def engine_for(url: str):
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port``, read from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                if len(addr) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    found.add(f"ipv6:{addr}")
    return found


def _other_local_ipv4() -> str | None:
    """An IPv4 address of this machine other than 127.0.0.1, if there is one."""
    candidates = []
    with contextlib.suppress(OSError):
        candidates += [ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the route's address
        candidates.append(s.getsockname()[0])
    return next((a for a in candidates if a not in ("127.0.0.1", "0.0.0.0")), None)


def test_select_version(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with engine_for(postgres_url) as engine, engine.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
        query = "select name, setting from pg_settings where name in ('fsync', 'synchronous_commit')"
        settings = dict(conn.execute(sa.text(query)).tuples().all())
    assert version.startswith("PostgreSQL ")
    assert settings == {"fsync": "off", "synchronous_commit": "on"}


def test_listens_on_127_0_0_1_only(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.conninfo()) as conn:
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        socket_dirs = conn.execute("show unix_socket_directories").fetchone()[0]
    assert Path(socket_dirs) == postgres_server.socket_dir
    assert (postgres_server.socket_dir / f".s.PGSQL.{postgres_server.port}").is_socket()
    assert _listening_addresses(postgres_server.port) == {"127.0.0.1"}

    other = _other_local_ipv4()
    if other is not None:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                f"host={other} port={postgres_server.port} user=postgres dbname=postgres",
                connect_timeout=3,
            )


def test_databases_are_independent(postgres_server: PostgresServer, postgres_url: str) -> None:
    other_url = postgres_server.create_database("independent_other")
    try:
        with engine_for(postgres_url) as one, engine_for(other_url) as two:
            with one.begin() as conn:
                conn.execute(sa.text("create table thing (id int primary key)"))
                conn.execute(sa.text("insert into thing values (1)"))
            assert sa.inspect(one).has_table("thing")
            assert not sa.inspect(two).has_table("thing")
            assert one.url.database != two.url.database
    finally:
        postgres_server.drop_database("independent_other")


def test_postgres_url_is_a_fresh_database_per_test(postgres_url: str) -> None:
    # Same table name as the test above: it would collide if databases were shared.
    with engine_for(postgres_url) as engine:
        assert sa.inspect(engine).get_table_names() == []


def test_database_url(database_url: str, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["database_url"]
    with engine_for(database_url) as engine:
        assert engine.dialect.name == backend
        with engine.begin() as conn:
            conn.execute(sa.text("create table t (x int)"))
            conn.execute(sa.text("insert into t values (42)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select x from t")).scalar_one() == 42


def test_kill_really_kills_and_start_recovers() -> None:
    server = PostgresServer().start()
    base_dir = server.base_dir
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("create table survivor (x int)")
            conn.execute("insert into survivor values (7)")
        pid = server.postmaster_pid()
        assert pid is not None and server.is_running()

        idle = psycopg.connect(server.conninfo())
        server.kill()

        assert not pg._pid_alive(pid)
        assert not server.is_running()
        with pytest.raises(psycopg.OperationalError):
            idle.execute("select 1")
        idle.close()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.conninfo(), connect_timeout=3)

        # A restart runs crash recovery on the same folder and port; committed data survive.
        server.start()
        assert server.postmaster_pid() != pid
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("select x from survivor").fetchone() == (7,)
    finally:
        server.stop()
    assert base_dir is not None and not base_dir.exists()
    assert server.base_dir is None


def test_runs_as_postgres_user_when_root(postgres_server: PostgresServer) -> None:
    owner = postgres_server.data_dir.stat().st_uid
    if os.geteuid() == 0:
        assert owner == pwd.getpwnam("postgres").pw_uid
    else:
        assert owner == os.geteuid()


def test_missing_binaries_say_run_bootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg, "BINDIR_GLOB", str(tmp_path / "nothing" / "*" / "bin"))
    with pytest.raises(PostgresNotFound, match=r"\./dev bootstrap"):
        PostgresServer()
