"""A source database with generated data, and a playbook override pointing backups at it and at
temporary folders."""

from __future__ import annotations

from pathlib import Path

import psycopg
import yaml

from bot.sandbox.services.postgres import PostgresServer


def make_source_database(server: PostgresServer, name: str, *, users: int = 2000) -> None:
    server.create_database(name)
    with psycopg.connect(server.conninfo(name), autocommit=True) as db:
        db.execute("CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, created timestamptz)")
        db.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), "
                   "total numeric(10,2), items jsonb)")
        db.execute("INSERT INTO users (email, created) SELECT 'user' || g || '@example.com', "
                   "'2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, %s) g", (users,))
        db.execute("INSERT INTO orders (user_id, total, items) SELECT 1 + g %% %s, g * 1.25, "
                   "jsonb_build_object('sku', 'SKU-' || g, 'qty', g %% 7) FROM generate_series(1, %s) g",
                   (users, users * 3))
        db.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100")


def contents(server: PostgresServer, name: str) -> dict[str, str]:
    """Each table's full contents, hashed in primary-key order: equal means the same rows."""
    with psycopg.connect(server.conninfo(name)) as db:
        return {table: db.execute(f"SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) "  # noqa: S608
                                  f"FROM {table} t").fetchone()[0]
                for table in ("users", "orders")}


def backup_pack(folder: Path, tmp: Path, server: PostgresServer, dbname: str, **restore: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    app = tmp / "app"
    (app / "static").mkdir(parents=True, exist_ok=True)
    (app / "settings.py").write_text("DEBUG = False\n")
    (app / "static" / "logo.svg").write_text("<svg/>")
    (app / "debug.log").write_text("noise")
    (app / "node_modules" / "left-pad").mkdir(parents=True, exist_ok=True)
    (app / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1")
    key = tmp / "offsite.key"
    key.write_bytes(bytes(range(32)))
    config = {
        "root": str(tmp / "backups"),
        "secondary": str(tmp / "secondary"),
        "offsite": {"folder": str(tmp / "offsite"), "key_file": str(key)},
        "database": {"host": server.host, "port": server.port, "user": "postgres", "name": dbname, "jobs": 2},
        "archives": {"application": {"paths": [str(app)]}},
        "restore": {"files_target": str(tmp / "restored-files"), "checks": ["SELECT COUNT(*) FROM users"],
                    **restore},
        "scratch_database": f"{dbname}_scratch",
    }
    (folder / "backups.yaml").write_text(yaml.safe_dump(config))
    (folder / "schedules.yaml").write_text("{}\n")
    return folder
