"""Engine and sessions. One engine per process, one short session per unit of work.

Every wait on the database is bounded (docs/architecture.md, "The scheduler cannot stall
silently"): on PostgreSQL a row lock is waited for ``LOCK_TIMEOUT`` at most and a statement runs
``STATEMENT_TIMEOUT`` at most (then the unit of work fails, nothing changed, and is tried again);
on SQLite a locked database is waited for ``BUSY_TIMEOUT``; a connection from the pool is waited
for ``POOL_TIMEOUT``. ``pool_pre_ping`` replaces connections a restarted server closed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

LOCK_TIMEOUT = 5  # seconds
STATEMENT_TIMEOUT = 30
CONNECT_TIMEOUT = 5
BUSY_TIMEOUT = 30
POOL_TIMEOUT = 60


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # One connection, handed from thread to thread by the pool: SQLite allows one writer, and
        # waiting in the pool's queue is far quicker than SQLite's sleeping busy handler.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT},
                               pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across crashes of the process
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    options = f"-c lock_timeout={LOCK_TIMEOUT * 1000} -c statement_timeout={STATEMENT_TIMEOUT * 1000}"
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=POOL_TIMEOUT,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT, "options": options})


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
