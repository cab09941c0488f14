"""Backup and restore speed against the seed's pipeline, on one database of about 1 GB.

Builds a throwaway PostgreSQL (pgbench scale 40 plus a 1.5 M-row jsonb table, as in
../shared/reference/operations.md), then in one run measures:
  seed backup   pg_dump DB | gzip > database.sql.gz
  seed restore  gunzip < database.sql.gz | psql NEWDB
  bot backup    the backup.run plan (pg_dump -Fd -j2 -Z1 with table statistics from the same
                snapshot, checksums, atomic publish), run in this process as the executor runs it
  bot verify    the plan's verification step (checksums, pg_restore -f /dev/null), reported apart
  bot restore   the backup.restore plan into a new database (checksums, pg_restore -j2)
and the peak RSS of this process (the bot's side; pg_dump and pg_restore are separate processes).
Each is measured in 3 alternating rounds and the medians are reported (the machine may be shared).

Run: PYTHONPATH=. .venv/bin/python bench/backup.py   (takes a few minutes; needs ~3 GB of disk)
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bot.executor.local import LocalRunner
from bot.executor.plan import Plan, StepContext
from bot.logging import Redactor
from bot.ops.backup.layout import Catalog
from bot.ops.registry import build_plan
from bot.sandbox.services.postgres import PostgresServer
from playbooks.backups import BackupSettings, DatabaseSource
from playbooks.loader import load_playbook

SCALE = 40
JSON_ROWS = 1_500_000
ROUNDS = 3


def build_database(server: PostgresServer, name: str) -> float:
    server.create_database(name)
    env = {"PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": "postgres", "PATH": "/usr/bin:/bin"}
    subprocess.run(["pgbench", "-i", "-q", "-s", str(SCALE), name], env=env, check=True, capture_output=True)
    with psycopg.connect(server.conninfo(name), autocommit=True) as db:
        db.execute("CREATE TABLE events (id bigserial PRIMARY KEY, payload jsonb NOT NULL)")
        db.execute("INSERT INTO events (payload) SELECT jsonb_build_object('user', g, 'kind', "
                   "(ARRAY['view','click','buy'])[1 + g %% 3], 'tags', jsonb_build_array(md5(g::text), g %% 97), "
                   "'at', now() - g * interval '1 second', 'session', md5(random()::text), "
                   "'trace', md5(random()::text) || md5(random()::text)) FROM generate_series(1, %s) g", (JSON_ROWS,))
        db.execute("VACUUM ANALYZE")
        row = db.execute("SELECT pg_database_size(current_database())").fetchone()
    return row[0] / 1e6 if row else 0.0


def timed(argv_or_fn: object, **kwargs: object) -> float:
    began = time.monotonic()
    if callable(argv_or_fn):
        argv_or_fn()
    else:
        subprocess.run(argv_or_fn, check=True, **kwargs)  # type: ignore[call-overload]
    return time.monotonic() - began


def run_plan(plan: Plan, workdir: Path) -> dict[str, float]:
    cancel = threading.Event()
    ctx = StepContext(runner=LocalRunner(redact=Redactor(), cancel=cancel, deadline=None), workdir=workdir,
                      cancel=cancel)
    seconds: dict[str, float] = {}
    try:
        for step in plan.steps:
            began = time.monotonic()
            step.action(ctx)
            seconds[step.title] = time.monotonic() - began
    finally:
        if plan.cleanup:
            plan.cleanup()
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-backup-") as tmp, PostgresServer() as server:
        work = Path(tmp)
        print("building the database…", flush=True)
        size_mb = build_database(server, "bench")
        env = {"PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": "postgres", "PATH": "/usr/bin:/bin"}
        source = DatabaseSource(host=server.host, port=server.port or 5432, user="postgres", name="bench", jobs=2)
        settings = BackupSettings(root=str(work / "backups"), database=source, scratch_database="bench_scratch")
        playbook = load_playbook().model_copy(update={"backups": settings})
        seed_file = work / "database.sql.gz"
        figures: dict[str, list[float]] = {k: [] for k in ("seed backup", "floor", "bot backup", "bot verify",
                                                          "seed restore", "bot restore")}
        loads: list[float] = []
        steps: dict[str, float] = {}
        restore_steps: dict[str, float] = {}
        # Rounds alternate seed and bot so that a neighbour's burst of load hits both; medians reported.
        for round_ in range(1, ROUNDS + 1):
            loads.append(os.getloadavg()[0])
            figures["seed backup"].append(timed(["bash", "-o", "pipefail", "-c",
                                                 f"pg_dump bench | gzip > {seed_file}"], env=env))
            figures["floor"].append(timed(["bash", "-o", "pipefail", "-c",
                                           f"pg_dump bench > {work / 'floor.sql'}"], env=env))
            (work / "floor.sql").unlink()
            now = datetime.now(UTC) + timedelta(minutes=round_)
            steps = run_plan(build_plan(playbook, playbook.actions["backup.run"], {"kind": "database"}, now), work)
            verify = sum(s for title, s in steps.items() if title.startswith("verify"))
            listing = sum(s for title, s in steps.items() if title.startswith("list what"))
            figures["bot backup"].append(sum(steps.values()) - verify - listing)
            figures["bot verify"].append(verify)
            server.create_database(f"seed_restore_{round_}")
            figures["seed restore"].append(timed(["bash", "-o", "pipefail", "-c",
                                                  f"gunzip < {seed_file} | psql -q -o /dev/null seed_restore_{round_}"],
                                                 env=env))
            server.drop_database(f"seed_restore_{round_}")
            backup_id = Catalog(work / "backups").backups()[0].id
            restore_steps = run_plan(build_plan(playbook, playbook.actions["backup.restore"],
                                                {"id": backup_id, "database": f"bot_restore_{round_}"}, now), work)
            figures["bot restore"].append(sum(restore_steps.values()))
            server.drop_database(f"bot_restore_{round_}")
            print(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in figures.items()), flush=True)
        seed_mb = seed_file.stat().st_size / 1e6
        backup = Catalog(work / "backups").backups()[0]
        dump_mb = backup.size() / 1e6
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    m = {k: median(v) for k, v in figures.items()}
    print(f"\ndatabase: {size_mb:.0f} MB (pgbench scale {SCALE} + {JSON_ROWS:,} jsonb rows); medians of {ROUNDS} "
          f"rounds; 1-min load average at each round's start: {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"seed backup  (pg_dump | gzip -6):                       {m['seed backup']:6.1f} s  ({seed_mb:.0f} MB)")
    print(f"floor        (pg_dump > file, uncompressed):            {m['floor']:6.1f} s "
          f"= {m['floor'] / m['seed backup']:.2f}x the seed")
    print(f"bot backup   (-Fd -j2 -Z1 + stats, checksums, publish): {m['bot backup']:6.1f} s "
          f"= {m['bot backup'] / m['seed backup']:.2f}x the seed  ({dump_mb:.0f} MB)")
    with_verify = median([b + v for b, v in zip(figures["bot backup"], figures["bot verify"], strict=True)])
    print(f"bot backup including its verification:                  {with_verify:6.1f} s "
          f"= {with_verify / m['seed backup']:.2f}x the seed")
    print(f"seed restore (gunzip | psql):                           {m['seed restore']:6.1f} s")
    print(f"bot restore  (checksums, pg_restore -j2, rename):       {m['bot restore']:6.1f} s "
          f"= {m['bot restore'] / m['seed restore']:.2f}x the seed")
    print(f"peak RSS of the bot's process: {peak_mb:.0f} MB")
    print("last round's steps:")
    for title, seconds in {**steps, **restore_steps}.items():
        print(f"  {seconds:6.1f} s  {title[:110]}")


if __name__ == "__main__":
    main()
