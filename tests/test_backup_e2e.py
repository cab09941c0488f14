"""Backups and restores through Slack against a real PostgreSQL: signed commands and clicks into
the running bot, real pg_dump / pg_restore, results compared row by row."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from bot.executor import views
from bot.ops.backup.checksums import checksum_problems
from bot.ops.backup.crypto import decrypt_to_folder
from bot.sandbox.services.postgres import PostgresServer
from tests.support.backups import backup_pack, contents, make_source_database
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.runs import runs, wait_status
from tests.test_executor_e2e import PLATFORM, click

pytestmark = pytest.mark.kind("e2e")

BACKUP_TIMEOUT = 60


def backup_cmd(bot: BotUnderTest, user: str, text: str) -> str:
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.command(user, PLATFORM, "/backup", text).status == 200
    from tests.test_executor_e2e import answers

    return answers(bot, user, before + 1)[before]


@pytest.fixture
def shop(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"shop_{abs(hash(request.node.name)) % 10**8}"
    make_source_database(postgres_server, name)
    yield name
    for suffix in ("", "_restored", "_scratch"):
        postgres_server.drop_database(name + suffix)


@pytest.fixture
def bot(tmp_path: Path, postgres_server: PostgresServer, shop: str) -> Iterator[BotUnderTest]:
    pack = backup_pack(tmp_path / "pack", tmp_path, postgres_server, shop)
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack) as running:
        yield running


def test_backup_then_restore_into_a_new_database_through_two_approvals(
        bot: BotUnderTest, tmp_path: Path, postgres_server: PostgresServer, shop: str) -> None:
    assert "starting" in backup_cmd(bot, "U0ALICE", "run")
    [made] = runs(bot)
    done = wait_status(bot, made.id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert done.status == "succeeded", done.outcome + done.output
    backup_id = json.loads(done.produced)["backup"]
    folder = tmp_path / "backups" / backup_id
    assert (folder / "database" / "toc.dat").is_file() and (folder / "application.tar.gz").is_file()
    assert checksum_problems(folder) == []
    assert checksum_problems(tmp_path / "secondary" / backup_id) == []
    with tarfile.open(folder / "application.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("settings.py") for n in names)
    assert not any(n.endswith("debug.log") or "node_modules" in n for n in names)  # the seed's excludes
    offsite = decrypt_to_folder(tmp_path / "offsite" / f"{backup_id}.tar.enc", tmp_path / "decrypted",
                                bytes(range(32)))
    assert checksum_problems(offsite / backup_id) == []

    assert "needs 2 approval" in backup_cmd(bot, "U0ALICE", f"restore {backup_id} database={shop}_restored")
    restore = runs(bot)[-1]
    assert "your approval does not count" in click(bot, "U0ALICE", views.APPROVE, restore.id)
    assert "still needs 1 more" in click(bot, "U0BOB", views.APPROVE, restore.id)
    assert "starting" in click(bot, "U0DAVE", views.APPROVE, restore.id)
    restored = wait_status(bot, restore.id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert restored.status == "succeeded", restored.outcome + restored.output
    assert contents(postgres_server, f"{shop}_restored") == contents(postgres_server, shop)
    produced = json.loads(restored.produced)
    assert "within the RTO of 1h" in produced["recovery time"]
    assert any("SELECT COUNT(*) FROM users → 2000" in v for v in produced.values())

    assert "starting" in backup_cmd(bot, "U0ALICE", "restore-test")
    tested = wait_status(bot, runs(bot)[-1].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert tested.status == "succeeded", tested.outcome
    assert "identical: 2 tables, 8000 rows" in json.loads(tested.produced)["result"]
    status = backup_cmd(bot, "U0KIM", "status")
    assert f"last success `{backup_id}`" in status and "restore test: succeeded" in status
    assert backup_id in backup_cmd(bot, "U0KIM", "list")


def test_a_flipped_byte_fails_verification_and_the_restore_restores_nothing(
        bot: BotUnderTest, tmp_path: Path, postgres_server: PostgresServer, shop: str) -> None:
    backup_cmd(bot, "U0ALICE", "run")
    made = wait_status(bot, runs(bot)[0].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    backup_id = json.loads(made.produced)["backup"]
    folder = tmp_path / "backups" / backup_id
    data = next(p for p in sorted((folder / "database").iterdir()) if p.name.endswith(".dat.gz"))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))

    backup_cmd(bot, "U0ALICE", f"verify {backup_id}")
    verify = wait_status(bot, runs(bot)[-1].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert verify.status == "failed" and "does not match its checksum" in verify.outcome

    backup_cmd(bot, "U0ALICE", f"restore {backup_id} database={shop}_restored")
    restore = runs(bot)[-1]
    click(bot, "U0BOB", views.APPROVE, restore.id)
    click(bot, "U0DAVE", views.APPROVE, restore.id)
    refused = wait_status(bot, restore.id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert refused.status == "failed" and "nothing was restored" in refused.outcome
    with psycopg.connect(postgres_server.conninfo()) as db:
        assert db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"{shop}_restored",)).fetchone() is None
    assert not (tmp_path / "restored-files").exists()
    bot.settle()
    assert any(f"run #{restore.id} failed" in t for t in bot.texts(PLATFORM))


@pytest.fixture
def health_url() -> Iterator[str]:
    import http.server
    import threading

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def test_full_recovery_in_place_stops_and_starts_services_and_polls_health(
        tmp_path: Path, postgres_server: PostgresServer, shop: str, health_url: str) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    pack = backup_pack(tmp_path / "pack", tmp_path, postgres_server, shop,
                       stop_services=[{"run": ["touch", str(marks / "stopped")]}],
                       start_services=[{"run": ["touch", str(marks / "started")]},
                                       {"http_check": {"url": health_url, "within": "10s", "every": "1s"}}])
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack) as bot:
        backup_cmd(bot, "U0ALICE", "run")
        made = wait_status(bot, runs(bot)[0].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
        backup_id = json.loads(made.produced)["backup"]
        before = contents(postgres_server, shop)
        with psycopg.connect(postgres_server.conninfo(shop), autocommit=True) as db:  # the disaster
            db.execute("DELETE FROM orders WHERE id % 2 = 0")
        (tmp_path / "app" / "settings.py").write_text("corrupted")

        backup_cmd(bot, "U0ALICE", f"restore {backup_id}")
        restore = runs(bot)[-1]
        plan = json.loads(restore.plan)
        assert plan[1] == f"run touch {marks / 'stopped'}" and f"replace database {shop}" in plan[2]
        assert plan[-3].startswith(f"wait until {health_url} answers 200")
        click(bot, "U0BOB", views.APPROVE, restore.id)
        click(bot, "U0DAVE", views.APPROVE, restore.id)
        done = wait_status(bot, restore.id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
        assert done.status == "succeeded", done.outcome + done.output
    assert contents(postgres_server, shop) == before
    restored_app = tmp_path / "restored-files" / str(tmp_path / "app").lstrip("/")
    assert (restored_app / "settings.py").read_text() == "DEBUG = False\n"
    assert not (restored_app / "debug.log").exists()
    assert (marks / "stopped").exists() and (marks / "started").exists()
    produced = json.loads(done.produced)
    assert "within the RTO of 4h" in produced["recovery time"]  # and the health check passed: it succeeded


def test_killing_the_server_during_a_backup_fails_the_run_and_leaves_no_backup(tmp_path: Path) -> None:
    with PostgresServer() as server:
        make_source_database(server, "doomed", users=100)
        pack = backup_pack(tmp_path / "pack", tmp_path, server, "doomed")
        with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack) as bot:
            blocker = psycopg.connect(server.conninfo("doomed"))
            blocker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")  # pg_dump will wait on it
            backup_cmd(bot, "U0ALICE", "run")
            [run] = runs(bot)

            def dump_waiting() -> bool:
                with psycopg.connect(server.conninfo("doomed")) as db:
                    row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' "
                                     "AND wait_event_type = 'Lock'").fetchone()
                return bool(row and row[0])

            from tests.support.waiting import eventually

            eventually(dump_waiting, timeout=30, what="pg_dump to be mid-dump")
            server.kill()
            failed = wait_status(bot, run.id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
            assert failed.status == "failed" and "pg_dump" in failed.outcome
            root = tmp_path / "backups"
            assert not root.exists() or list(root.iterdir()) == []  # nothing half-written remains
            bot.settle()
            assert any(f"run #{run.id} failed" in t for t in bot.texts(PLATFORM))
            blocker.close()


def test_dump_through_docker_exec_as_the_seed_does(tmp_path: Path, postgres_server: PostgresServer, shop: str) -> None:
    from tests.support.docker_engine import DockerEngineStandIn

    pack = backup_pack(tmp_path / "pack", tmp_path, postgres_server, shop)
    config = yaml.safe_load((pack / "backups.yaml").read_text())
    config["database"]["container"] = "postgres"
    (pack / "backups.yaml").write_text(yaml.safe_dump(config))
    with DockerEngineStandIn(tmp_path) as docker:
        docker.add_container("postgres")
        with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack,
                         env={"DOCKER_HOST": docker.base_url}) as bot:
            backup_cmd(bot, "U0ALICE", "run kind=database")
            made = wait_status(bot, runs(bot)[0].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
            assert made.status == "succeeded", made.outcome + made.output
            backup_id = json.loads(made.produced)["backup"]
            assert (tmp_path / "backups" / backup_id / "database.sql.gz").is_file()
            assert any(c.action == "exec" and c.target == "postgres" and c.params["argv"].startswith("pg_dump ")
                       for c in docker.calls)
            backup_cmd(bot, "U0ALICE", f"restore {backup_id} database={shop}_restored")
            restore = runs(bot)[-1]
            click(bot, "U0BOB", views.APPROVE, restore.id)
            click(bot, "U0DAVE", views.APPROVE, restore.id)
            done = wait_status(bot, restore.id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
            assert done.status == "succeeded", done.outcome + done.output
    assert contents(postgres_server, f"{shop}_restored") == contents(postgres_server, shop)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """The backup folder on a disk of its own: an 8 MB tmpfs, mounted for this test only."""
    root = tmp_path / "backups"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "opsbot-test-backups", str(root)], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", "--lazy", str(root)], check=False)


def test_a_full_backup_disk_fails_the_run_clearly_and_leaves_earlier_backups_intact(
        small_disk: Path, bot: BotUnderTest) -> None:
    backup_cmd(bot, "U0ALICE", "run")
    first = wait_status(bot, runs(bot)[0].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert first.status == "succeeded", first.outcome + first.output
    earlier = json.loads(first.produced)["backup"]
    checksums = (small_disk / earlier / "checksums.txt").read_bytes()
    free = shutil.disk_usage(small_disk).free
    with (small_disk / "filler").open("wb") as filler:  # what else lives on that disk: 16 KB are left
        filler.write(b"\xff" * (free - 16 * 1024))

    bot.clock.advance(timedelta(hours=1))
    backup_cmd(bot, "U0ALICE", "run")
    second = wait_status(bot, runs(bot)[-1].id, "succeeded", "failed", timeout=BACKUP_TIMEOUT)
    assert second.status == "failed"
    assert second.outcome.startswith(f"The disk holding {small_disk} is full (")
    assert "was not made: what it had written is removed and earlier backups are untouched" in second.outcome
    assert "backup" not in json.loads(second.produced) and "verified" not in second.outcome
    assert sorted(p.name for p in small_disk.iterdir()) == sorted([earlier, "filler"]), "no partial folder is left"
    assert (small_disk / earlier / "checksums.txt").read_bytes() == checksums
    assert checksum_problems(small_disk / earlier) == []
    assert f"last success `{earlier}`" in backup_cmd(bot, "U0KIM", "status")
    bot.settle()
    assert any(f"The disk holding {small_disk} is full" in t for t in bot.texts(PLATFORM)), "the thread says why"
