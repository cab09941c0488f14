"""PostgreSQL for backups: connection details (the password only ever in PGPASSWORD), a consistent
snapshot shared by pg_dump and the table statistics, and creating or dropping databases."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from bot.executor.plan import StepFailed
from bot.ops.backup.layout import TableStats
from playbooks.backups import DatabaseSource


@dataclass(frozen=True)
class Connection:
    source: DatabaseSource
    password: str | None

    @classmethod
    def of(cls, source: DatabaseSource) -> Connection:
        return cls(source, _password(source))

    def env(self) -> dict[str, str]:
        """For pg_dump, pg_restore and psql: everything but the database name, which is an argument."""
        env = {"PGHOST": self.source.host, "PGPORT": str(self.source.port), "PGUSER": self.source.user,
               "PGCONNECT_TIMEOUT": "10"}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, dbname: str | None = None, *, autocommit: bool = True) -> psycopg.Connection:
        try:
            return psycopg.connect(host=self.source.host, port=self.source.port, user=self.source.user,
                                   password=self.password, dbname=dbname or self.source.name,
                                   connect_timeout=10, autocommit=autocommit)
        except psycopg.Error as exc:
            raise StepFailed(f"cannot connect to {self.describe(dbname)}: {_first_line(exc)}") from None

    def describe(self, dbname: str | None = None) -> str:
        return f"PostgreSQL {dbname or self.source.name} at {self.source.host}:{self.source.port}"


def _password(source: DatabaseSource) -> str | None:
    if source.password_file:
        try:
            return Path(source.password_file).read_text().strip()
        except OSError as exc:
            raise StepFailed(f"cannot read the database password file {source.password_file}: {exc.strerror}") \
                from None
    if source.password_env:
        value = os.environ.get(source.password_env)
        if value is None:
            raise StepFailed(f"the database password variable {source.password_env} is not set")
        return value
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def snapshot(conn: Connection) -> Iterator[tuple[psycopg.Connection, str]]:
    """A read-only repeatable-read transaction and its exported snapshot: pg_dump --snapshot and the
    statistics then see the database at the same instant."""
    db = conn.connect(autocommit=False)
    try:
        db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = db.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        yield db, str(row[0])
    finally:
        with suppress(psycopg.Error):  # a lost server already failed the dump; say that, not this
            db.rollback()
        db.close()


_ROW_HASH = {
    "record": "SELECT count(*), coalesce(sum(hash_record(t)), 0) FROM {} AS t",
    "text": "SELECT count(*), coalesce(sum(hashtext(t::text)), 0) FROM {} AS t",
}


def table_stats(db: psycopg.Connection, methods: Mapping[str, str] | None = None) -> dict[str, TableStats]:
    """Row count and an order-independent content hash of every user table: one sequential scan
    each, constant memory on the server (a sum, not a concatenation). ``record`` hashing is tried
    first (inside a savepoint, so a table with an unhashable column falls back to ``text`` without
    losing the transaction's snapshot); ``methods`` forces the method per table, so a restored
    database is hashed exactly as its source was."""
    tables = db.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND NOT c.relispartition ORDER BY 1, 2"
    ).fetchall()
    stats = {}
    for schema, name in tables:
        key = f"{schema}.{name}"
        forced = (methods or {}).get(key)
        for method in [forced] if forced in _ROW_HASH else ["record", "text"]:
            query = sql.SQL(_ROW_HASH[method]).format(sql.Identifier(schema, name))  # type: ignore[arg-type]
            try:
                with db.transaction():  # a savepoint inside the snapshot's transaction
                    row = db.execute(query).fetchone()
            except psycopg.errors.UndefinedFunction:  # no hash function for a column's type
                continue
            assert row is not None
            stats[key] = TableStats(rows=int(row[0]), checksum=str(row[1]), method=method)
            break
    return stats


def database_exists(conn: Connection, name: str) -> bool:
    with conn.connect("postgres") as db:
        return db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def recreate_database(conn: Connection, name: str) -> None:
    """Drop (disconnecting whoever is still connected) and create empty."""
    with conn.connect("postgres") as db:
        try:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise StepFailed(f"cannot recreate database {name}: {_first_line(exc)}") from None


def replace_database(conn: Connection, fresh: str, target: str) -> None:
    """Put the fully restored ``fresh`` in the place of ``target``: drop ``target`` (disconnecting
    whoever is still connected) and rename. Only now is the old database gone."""
    with conn.connect("postgres") as db:
        try:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
            db.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(fresh), sql.Identifier(target)))
        except psycopg.Error as exc:
            raise StepFailed(f"cannot put the restored database in the place of {target}: {_first_line(exc)}") \
                from None


def drop_database(conn: Connection, name: str) -> None:
    with conn.connect("postgres") as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_checks(conn: Connection, dbname: str, queries: tuple[str, ...]) -> list[str]:
    """The post-recovery checks, read-only; each result's first value for the report."""
    results = []
    with conn.connect(dbname, autocommit=False) as db:
        db.execute("SET TRANSACTION READ ONLY")
        for query in queries:
            try:
                row = db.execute(query).fetchone()
            except psycopg.Error as exc:
                raise StepFailed(f"post-recovery check failed: {query}: {_first_line(exc)}") from None
            results.append(f"{query} → {row[0] if row else 'no rows'}")
        db.rollback()
    return results
