"""The backup plans run in-process against a real PostgreSQL, as the executor runs them (steps in
order, cleanup whatever happened), without Slack: the plain SQL + gzip format end to end, pipefail
with a real pg_dump, a restore that fails leaving the current database untouched, the restore's
before/after hooks, and secrets kept out of what approvers read."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bot.executor.local import LocalRunner
from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.logging import Redactor
from bot.ops.backup.checksums import write_checksums
from bot.ops.backup.layout import Catalog
from bot.ops.backup.plans import backup_plan
from bot.ops.backup.restore import restore_plan, side_name
from bot.ops.backup.verify import verify_plan
from bot.sandbox.services.postgres import PostgresServer
from playbooks.backups import BackupSettings, DatabaseSource
from tests.support.backups import contents, make_source_database

pytestmark = pytest.mark.kind("unit")

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def run(plan: Plan, tmp: Path) -> StepContext:
    cancel = threading.Event()
    ctx = StepContext(runner=LocalRunner(redact=Redactor(), cancel=cancel, deadline=None), workdir=tmp, cancel=cancel)
    try:
        for step in plan.steps:
            step.action(ctx)
    finally:
        if plan.cleanup:
            plan.cleanup()
    return ctx


@pytest.fixture
def source(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"src_{abs(hash(request.node.name)) % 10**8}"
    make_source_database(postgres_server, name, users=300)
    yield name
    for suffix in ("", "_copy", "_scratch"):
        postgres_server.drop_database(name + suffix)


def settings_for(server: PostgresServer, name: str, tmp: Path, **database: object) -> BackupSettings:
    return BackupSettings(root=str(tmp / "backups"), scratch_database=f"{name}_scratch",
                          database=DatabaseSource(host=server.host, port=server.port or 5432, user="postgres",
                                                  name=name, **database))  # type: ignore[arg-type]


def databases(server: PostgresServer) -> set[str]:
    with psycopg.connect(server.conninfo()) as db:
        return {row[0] for row in db.execute("SELECT datname FROM pg_database")}


def test_plain_sql_and_gzip_backs_up_verifies_and_restores(postgres_server: PostgresServer, source: str,
                                                           tmp_path: Path) -> None:
    settings = settings_for(postgres_server, source, tmp_path, format="plain")
    made = run(backup_plan(settings, now=NOW, kind="database"), tmp_path)
    backup = Catalog(Path(settings.root)).find(made.produced["backup"])
    dump = backup.path / "database.sql.gz"
    assert dump.is_file() and backup.manifest().tables["public.users"].rows == 300
    run(restore_plan(settings, backup.id, database_name=f"{source}_copy"), tmp_path)
    assert contents(postgres_server, f"{source}_copy") == contents(postgres_server, source)

    # a dump cut short that was sealed anyway (checksums match): the missing trailer gives it away
    with gzip.open(dump, "rb") as whole:
        text = whole.read()
    with gzip.open(dump, "wb") as cut:
        cut.write(text[: len(text) // 2])
    (backup.path / "checksums.txt").unlink()
    write_checksums(backup.path)
    with pytest.raises(StepFailed, match="completion trailer"):
        run(verify_plan(settings, backup.id), tmp_path)


def test_pipefail_a_failing_pg_dump_fails_the_run_and_leaves_nothing(postgres_server: PostgresServer,
                                                                     tmp_path: Path) -> None:
    settings = settings_for(postgres_server, "no_such_database", tmp_path, format="plain")
    with pytest.raises(StepFailed, match="no_such_database"):
        run(backup_plan(settings, now=NOW, kind="database"), tmp_path)
    root = tmp_path / "backups"
    assert not root.exists() or list(root.iterdir()) == []  # no 20-byte database.sql.gz that looks fine


def test_a_restore_that_fails_leaves_the_current_database_as_it_was(postgres_server: PostgresServer, source: str,
                                                                    tmp_path: Path) -> None:
    settings = settings_for(postgres_server, source, tmp_path)
    backup = Catalog(Path(settings.root)).find(run(backup_plan(settings, now=NOW, kind="database"),
                                                   tmp_path).produced["backup"])
    # damage the dump so that pg_restore fails, and reseal it so the checksums still pass
    data = max((backup.path / "database").glob("*.dat.gz"), key=lambda p: p.stat().st_size)
    data.write_bytes(data.read_bytes()[:100])
    (backup.path / "checksums.txt").unlink()
    write_checksums(backup.path)
    before = contents(postgres_server, source)
    with psycopg.connect(postgres_server.conninfo(source), autocommit=True) as db:
        db.execute("DELETE FROM orders WHERE id > 600")
    damaged = contents(postgres_server, source)
    with pytest.raises(StepFailed, match="pg_restore exited"):
        run(restore_plan(settings, backup.id), tmp_path)
    assert contents(postgres_server, source) == damaged != before  # untouched, not half-replaced
    assert side_name(source) not in databases(postgres_server)  # and the side database is gone


def test_before_and_after_hooks_surround_the_data(postgres_server: PostgresServer, source: str,
                                                  tmp_path: Path) -> None:
    settings = settings_for(postgres_server, source, tmp_path)
    backup_id = run(backup_plan(settings, now=NOW, kind="database"), tmp_path).produced["backup"]
    seen: list[str] = []

    def hook(name: str) -> Step:
        return Step(name, lambda ctx: seen.append(name + (" with data" if f"{source}_copy" in
                                                          databases(postgres_server) else "")))

    plan = restore_plan(settings, backup_id, database_name=f"{source}_copy", before=[hook("stop")],
                        after=[hook("start")])
    titles = plan.describe()
    assert titles[1] == "stop" and titles[3] == "start" and "checksums" in titles[0]
    ctx = run(plan, tmp_path)
    assert seen == ["stop", "start with data"]
    assert "within the RTO of 1h" in ctx.produced["recovery time"]


def test_an_unknown_backup_is_refused_before_anyone_approves(postgres_server: PostgresServer,
                                                             tmp_path: Path) -> None:
    settings = settings_for(postgres_server, "app", tmp_path)
    with pytest.raises(StepFailed, match="no backup 20260101T000000Z-full"):
        restore_plan(settings, "20260101T000000Z-full")


def test_the_password_is_in_no_title_and_no_argv(postgres_server: PostgresServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pw-Zq8-very-secret"
    monkeypatch.setenv("OPSBOT_TEST_PGPASS", secret)
    settings = settings_for(postgres_server, "no_such_database", tmp_path, password_env="OPSBOT_TEST_PGPASS")
    plan = backup_plan(settings, now=NOW, kind="database")
    assert not any(secret in title for title in plan.describe())
    with pytest.raises(StepFailed) as failed:
        run(plan, tmp_path)
    assert secret not in str(failed.value)


def test_prune_dry_run_lists_and_deletes_nothing_then_prune_deletes_exactly_that(tmp_path: Path) -> None:
    from bot.ops.backup.plans import prune_plan
    from playbooks.backups import Retention

    root, secondary = tmp_path / "backups", tmp_path / "secondary"
    ids = [f"202611{d:02d}T020000Z-full" for d in range(1, 11)]
    for backup_id in ids:
        (root / backup_id).mkdir(parents=True)
        (secondary / backup_id).mkdir(parents=True)
    (root / ".partial-20261111T020000Z-full").mkdir()  # a run that died
    settings = BackupSettings(root=str(root), secondary=str(secondary), retention=Retention(daily=3, weekly=0,
                                                                                             monthly=1))
    listed = run(prune_plan(settings, dry_run=True), tmp_path).produced
    assert listed["to prune"] == ", ".join(reversed(ids[:7])) and listed["kept"] == "3"
    assert len(list(root.iterdir())) == 11  # nothing deleted
    assert len(prune_plan(settings, dry_run=True).steps) == 1
    run(prune_plan(settings, dry_run=False), tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ids[7:]
    assert sorted(p.name for p in secondary.iterdir()) == ids[7:]


def test_restore_test_hashes_rows_by_record_falling_back_to_text_and_finds_them_identical(
        postgres_server: PostgresServer, source: str, tmp_path: Path) -> None:
    from bot.ops.backup.scratch_restore import restore_test_plan

    with psycopg.connect(postgres_server.conninfo(source), autocommit=True) as db:
        db.execute("CREATE TABLE audit (id int PRIMARY KEY, body json)")  # json has no hash function
        db.execute("INSERT INTO audit SELECT g, json_build_object('n', g) FROM generate_series(1, 50) g")
    settings = settings_for(postgres_server, source, tmp_path)
    made = run(backup_plan(settings, now=NOW, kind="database"), tmp_path)
    tables = Catalog(Path(settings.root)).find(made.produced["backup"]).manifest().tables
    assert {name: stats.method for name, stats in tables.items()} == {
        "public.audit": "text", "public.orders": "record", "public.users": "record"}
    tested = run(restore_test_plan(settings), tmp_path)
    assert tested.produced["result"] == "identical: 3 tables, 1250 rows, contents checksummed"
    assert f"{source}_scratch" not in databases(postgres_server)  # dropped afterwards


def test_restore_test_fails_when_the_restored_contents_differ_from_the_dump_time_record(
        postgres_server: PostgresServer, source: str, tmp_path: Path) -> None:
    import json

    from bot.ops.backup.scratch_restore import restore_test_plan

    settings = settings_for(postgres_server, source, tmp_path)
    backup = Catalog(Path(settings.root)).find(run(backup_plan(settings, now=NOW, kind="database"),
                                                   tmp_path).produced["backup"])
    manifest = json.loads((backup.path / "manifest.json").read_text())
    manifest["tables"]["public.orders"]["checksum"] = "12345"
    manifest["tables"]["public.users"]["rows"] = 301
    (backup.path / "manifest.json").write_text(json.dumps(manifest))
    (backup.path / "checksums.txt").unlink()
    write_checksums(backup.path)
    with pytest.raises(StepFailed, match=r"public.orders: contents differ; public.users: 301 rows at dump time, 300"):
        run(restore_test_plan(settings), tmp_path)
    assert f"{source}_scratch" not in databases(postgres_server)
