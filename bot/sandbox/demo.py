"""The demo shop the sandbox's operations work on: a small PostgreSQL database (customers,
products, orders) so a backup, a restore test and a restore show real numbers; the application's
files, which a full backup archives; and the page the application serves behind nginx, which
reads the database on every visit, so a restore or maintenance mode shows in the browser."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import psycopg

from bot.sandbox.services.postgres import PostgresServer
from bot.sandbox.services.process import ServiceError

DATABASE = "shop"
SCRATCH_DATABASE = "shop_restore_test"
TABLES = ("customers", "products", "orders")
CHECKS = tuple(f"SELECT COUNT(*) FROM {table}" for table in TABLES)  # the restore's post-recovery checks

_SCHEMA = (
    "CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, joined date NOT NULL)",
    "CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, price numeric(8,2) NOT NULL)",
    "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), "
    "product_id int NOT NULL REFERENCES products(id), quantity int NOT NULL, placed timestamptz NOT NULL)",
    "INSERT INTO customers (email, joined) SELECT 'customer' || g || '@shop.example', "
    "DATE '2026-01-01' + g FROM generate_series(1, 40) g",
    "INSERT INTO products (name, price) SELECT 'Product ' || g, 4.5 * g FROM generate_series(1, 12) g",
    "INSERT INTO orders (customer_id, product_id, quantity, placed) SELECT 1 + g % 40, 1 + g % 12, 1 + g % 3, "
    "TIMESTAMPTZ '2026-02-01 09:00Z' + g * INTERVAL '37 minutes' FROM generate_series(1, 150) g",
)

APP_FILES = {
    "settings.py": "DEBUG = False\nDATABASE = 'shop'\n",
    "templates/index.html": "<h1>Demo shop</h1>\n",
    "static/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"/>\n',
    "debug.log": "left out of backups by the default exclusions (*.log)\n",
}


def create_database(server: PostgresServer) -> dict[str, int]:
    """Create the demo database on the sandbox's server; its row counts by table."""
    try:
        server.create_database(DATABASE)
        with psycopg.connect(server.conninfo(DATABASE), autocommit=True) as db:
            for statement in _SCHEMA:
                db.execute(statement)  # type: ignore[arg-type]  # fixed statements, no input
        return row_counts(server.conninfo(DATABASE))
    except psycopg.Error as exc:
        raise ServiceError(f"the demo database could not be created: {_first_line(exc)}") from None


def row_counts(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo, connect_timeout=3) as db:
        return {table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]  # noqa: S608
                for table in TABLES}


def write_app_files(folder: Path) -> Path:
    """The application's files (kept if already there: a restore may have put them back)."""
    for name, text in APP_FILES.items():
        path = folder / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return folder


def shop_page(conninfo: str | None) -> Callable[[str], str]:
    """What the application answers for a path: ``/health`` is ``ok``; any other path the shop's
    front page with the database's row counts (or why they cannot be read)."""

    def page(path: str) -> str:
        if path == "/health":
            return "ok"
        if conninfo is None:
            numbers = "no database: PostgreSQL is not running in this sandbox"
        else:
            try:
                numbers = ", ".join(f"{count} {table}" for table, count in row_counts(conninfo).items())
            except psycopg.Error as exc:
                numbers = f"the database does not answer: {_first_line(exc)}"
        return (f"<!doctype html><title>Demo shop</title><h1>Demo shop</h1>"
                f"<p>The opsbot sandbox's demo application. Database {DATABASE}: {html.escape(numbers)}.</p>")

    return page


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
