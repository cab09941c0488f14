"""The example shop behind nginx: a few HTTP endpoints over its PostgreSQL, orders confirmed by a
Celery worker through Redis. Just enough for the bot's operations to have something real to act on:
rows to back up and restore, a queue to drain, a health URL, a release number to roll back."""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from tasks import confirm

DATABASE_URL = os.environ["DATABASE_URL"]
RELEASE = os.environ.get("RELEASE", "unknown")
SCHEMA = """
CREATE TABLE IF NOT EXISTS products (id serial PRIMARY KEY, name text NOT NULL, price_cents int NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, product_id int NOT NULL REFERENCES products,
                                   quantity int NOT NULL, confirmed boolean NOT NULL DEFAULT false);
"""
PRODUCTS = [("Tea", 450), ("Coffee", 380), ("Cocoa", 420)]


def connect() -> psycopg.Connection:
    return psycopg.connect(DATABASE_URL, connect_timeout=3, autocommit=True)


def set_up() -> None:
    """Tables and a few rows, once; waits (up to a minute) for the database to accept connections."""
    for _ in range(60):
        try:
            connect().close()
            break
        except psycopg.OperationalError:
            time.sleep(1)
    with connect() as db:
        db.execute(SCHEMA)
        if db.execute("SELECT count(*) FROM products").fetchone()[0] == 0:
            with db.cursor() as cur:
                cur.executemany("INSERT INTO products (name, price_cents) VALUES (%s, %s)", PRODUCTS)
                cur.executemany("INSERT INTO orders (product_id, quantity, confirmed) VALUES (%s, %s, true)",
                                [(1 + i % len(PRODUCTS), 1 + i % 4) for i in range(40)])


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            try:
                with connect() as db:
                    db.execute("SELECT 1 FROM orders LIMIT 1")
            except psycopg.Error as exc:
                return self.answer(503, {"healthy": False, "error": type(exc).__name__})
            return self.answer(200, {"healthy": True, "release": RELEASE})
        if self.path == "/release":
            return self.answer(200, {"release": RELEASE})
        if self.path == "/":
            with connect() as db:
                orders = db.execute("SELECT count(*) FROM orders").fetchone()[0]
            return self.answer(200, {"shop": "example", "release": RELEASE, "orders": orders})
        self.answer(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/orders":
            return self.answer(404, {"error": "not found"})
        with connect() as db:
            order = db.execute("INSERT INTO orders (product_id, quantity) VALUES (1, 1) RETURNING id").fetchone()[0]
        confirm.delay(order)
        self.answer(201, {"order": order})

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


if __name__ == "__main__":
    set_up()
    ThreadingHTTPServer(("0.0.0.0", 8000), Shop).serve_forever()
