"""Emergency rollback through Slack: signed `/rollback` and approval clicks into the running bot,
images retagged and a container stopped and started on a real Docker Engine (the suite's own), the
`.env` put back on disk, and a real health URL polled."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.executor import commands as cmd
from bot.executor import views
from bot.ops.backup.layout import Manifest
from bot.ops.rollback import _replace_atomically
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.dockerd import Dockerd
from tests.support.runs import runs, wait_status
from tests.test_executor_e2e import PLATFORM, answers, click

pytestmark = pytest.mark.kind("e2e")

BACKUP_ID = "20261127T020000Z-database"


@dataclass
class Health:
    url: str
    status: list[int]  # what it answers now; a test may change it


@pytest.fixture
def health() -> Iterator[Health]:
    state = Health("", [200])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(state.status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/health"
    yield state
    server.shutdown()


@dataclass
class Release:
    dockerd: Dockerd
    previous: str  # image ID of app:backup
    current: str  # image ID of app:latest
    env_target: Path
    health: Health
    bot: BotUnderTest


@pytest.fixture
def release(tmp_path: Path, health: Health, dockerd: Dockerd) -> Iterator[Release]:
    last_good, app = tmp_path / "last_known_good", tmp_path / "app"
    last_good.mkdir()
    app.mkdir()
    (last_good / ".env").write_text("SECRET_KEY=previous\n")
    (last_good / ".env").chmod(0o600)
    (app / ".env").write_text("SECRET_KEY=broken-release\n")
    backup = tmp_path / "backups" / BACKUP_ID
    backup.mkdir(parents=True)
    Manifest(id=BACKUP_ID, kind="database", created_at="2026-11-27T02:00:00+00:00", dump="database",
             dump_format="directory").write(backup)
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "rollback.yaml").write_text(yaml.safe_dump({
        "images": [{"image": "app:backup", "as": "app:latest"}, {"image": "front:backup", "as": "front:latest"}],
        "env_file": {"source": str(last_good / ".env"), "target": str(app / ".env")},
        "stop_services": [{"docker_stop": "web"}],
        "start_services": [{"docker_start": "web"}],
        "health": {"url": health.url, "within": "3s", "every": "1s"},
    }))
    (pack / "backups.yaml").write_text(yaml.safe_dump({"root": str(tmp_path / "backups")}))
    (pack / "schedules.yaml").write_text("{}\n")
    dockerd.run_container("web")
    previous, current = dockerd.image("app:backup"), dockerd.image("app:latest")
    dockerd.image("front:backup")
    assert dockerd.api is not None
    with suppress(docker.errors.ImageNotFound):
        dockerd.api.remove_image("front:latest")
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack,
                     env={"DOCKER_HOST": dockerd.base_url}) as bot:
        yield Release(dockerd, previous, current, app / ".env", health, bot)
    dockerd.remove_container("web")


def changes(dockerd: Dockerd, since: float) -> list[tuple[str, str]]:
    """What the engine did to containers and tags since then (stop, start, tag)."""
    return [e for e in dockerd.events(since) if e[0] in ("stop", "start", "tag", "untag", "restart")]


def rollback(bot: BotUnderTest, user: str, text: str = "", channel: str = PLATFORM) -> str:
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.command(user, channel, "/rollback", text).status == 200
    return answers(bot, user, before + 1)[before]


def approve(bot: BotUnderTest, run_id: int) -> None:
    assert "still needs 1 more" in click(bot, "U0BOB", views.APPROVE, run_id)
    assert "starting" in click(bot, "U0DAVE", views.APPROVE, run_id)


def test_rollback_retags_the_backup_images_restores_the_env_restarts_and_checks_health(release: Release) -> None:
    bot, dockerd = release.bot, release.dockerd
    assert "needs 2 approval" in rollback(bot, "U0ALICE")
    [run] = runs(bot)
    plan = json.loads(run.plan)
    assert plan[0] == "docker stop web (timeout 10s)"
    assert plan[1] == f"docker tag app:backup ({release.previous[:19]}) as app:latest (now {release.current[:19]})"
    assert plan[2].startswith("docker tag front:backup (sha256:") and plan[2].endswith("as front:latest (absent now)")
    assert plan[3].startswith("put ") and "in place of" in plan[3] and "SECRET_KEY" not in plan[3]
    assert plan[4:] == ["docker start web", f"wait until {release.health.url} answers 200 (within 3s, every 1s)"]
    bot.settle()
    shown = [m.text + json.dumps(m.blocks) for m in bot.workspace.messages(PLATFORM)]
    assert any(release.previous[:19] in t for t in shown), "approvers see the image ID before approving"

    assert "your approval does not count" in click(bot, "U0ALICE", views.APPROVE, run.id)
    since = time.time()
    approve(bot, run.id)
    done = wait_status(bot, run.id, "succeeded", "failed", timeout=30)
    assert done.status == "succeeded", done.outcome + done.output

    assert dockerd.image_id("app:latest") == release.previous
    assert dockerd.image_id("front:latest") == dockerd.image_id("front:backup")
    assert changes(dockerd, since) == [("stop", "web"), ("tag", "app:latest"), ("tag", "front:latest"),
                                      ("start", "web")]
    assert release.env_target.read_text() == "SECRET_KEY=previous\n"
    assert stat.S_IMODE(os.stat(release.env_target).st_mode) == 0o600
    [kept] = release.env_target.parent.glob(".env.before-rollback-*")
    assert kept.read_text() == "SECRET_KEY=broken-release\n"
    bot.settle()
    announced = [t for t in bot.texts(PLATFORM) if f"#{run.id}" in t and "succeeded" in t]
    assert announced, "the result is announced in the operations channel"
    assert not any("SECRET_KEY=" in t for t in bot.texts(PLATFORM))


def test_an_image_retagged_after_approval_was_asked_refuses_to_run(release: Release) -> None:
    bot, dockerd = release.bot, release.dockerd
    rollback(bot, "U0ALICE")
    [run] = runs(bot)
    moved = dockerd.image("app:backup")  # someone deploys and re-tags while approvers read
    since = time.time()
    approve(bot, run.id)
    done = wait_status(bot, run.id, "succeeded", "failed", timeout=30)
    assert done.status == "failed" and "changed since it was approved" in done.outcome
    assert moved[:19] in done.outcome
    assert changes(dockerd, since) == [] and dockerd.image_id("app:latest") == release.current
    assert release.env_target.read_text() == "SECRET_KEY=broken-release\n"


def test_a_missing_backup_image_is_refused_before_anyone_is_asked(release: Release) -> None:
    bot, dockerd = release.bot, release.dockerd
    assert dockerd.api is not None
    dockerd.api.remove_image("front:backup")
    since = time.time()
    answer = rollback(bot, "U0ALICE")
    assert "there is no image front:backup to roll back to" in answer
    assert runs(bot) == [] and changes(dockerd, since) == []


def test_unhealthy_after_rollback_fails_the_run_and_says_so_in_platform_ops(release: Release, health: Health) -> None:
    bot = release.bot
    health.status[0] = 503
    rollback(bot, "U0ALICE")
    [run] = runs(bot)
    approve(bot, run.id)
    done = wait_status(bot, run.id, "succeeded", "failed", timeout=30)
    assert done.status == "failed" and "did not answer 200 within 3s" in done.outcome
    bot.settle()
    assert any(f"run #{run.id} failed" in t for t in bot.texts(PLATFORM))


def test_with_a_database_the_restore_is_requested_with_its_own_approvals(release: Release) -> None:
    bot, dockerd = release.bot, release.dockerd
    assert "needs 2 approval" in rollback(bot, "U0ALICE", "database=latest")
    [run] = runs(bot)
    plan = json.loads(run.plan)
    assert "request `backup.restore` of it" in plan[-1] and BACKUP_ID in plan[-1]
    assert not any(t.startswith("docker start") or t.startswith("wait until") for t in plan)
    since = time.time()
    approve(bot, run.id)
    done = wait_status(bot, run.id, "succeeded", "failed", timeout=30)
    assert done.status == "succeeded", done.outcome + done.output
    assert [a for a, _ in changes(dockerd, since)] == ["stop", "tag", "tag"]  # services wait for the data
    restore = runs(bot)[-1]
    assert restore.action == "backup.restore" and restore.status == "pending" and restore.source == "follow-up"
    assert json.loads(restore.params)["id"] == BACKUP_ID and restore.requested_by == "U0ALICE"
    assert "your approval does not count" in click(bot, "U0ALICE", views.APPROVE, restore.id)


def test_bad_rollback_text_is_answered_and_runs_nothing(release: Release) -> None:
    bot = release.bot
    assert "not understood" in rollback(bot, "U0ALICE", "now please")
    assert "database" in rollback(bot, "U0ALICE", "database=../../etc")
    assert runs(bot) == []
    assert "two approvals" in rollback(bot, "U0ALICE", "help")


@given(st.text(max_size=200))
def test_any_rollback_text_parses_or_is_refused_clearly(text: str) -> None:
    result = cmd.parse_rollback(text)
    assert isinstance(result, cmd.ParseError | cmd.Help | cmd.Show | cmd.RequestAction)


def test_the_env_file_is_replaced_atomically_with_the_source_mode(tmp_path: Path) -> None:
    source, target = tmp_path / "good.env", tmp_path / ".env"
    source.write_text("A=1\n")
    source.chmod(0o640)
    target.write_text("A=2\n")
    _replace_atomically(source, target)
    assert target.read_text() == "A=1\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "good.env"]


def test_a_restore_of_latest_refuses_to_run_when_a_newer_backup_appeared_since_it_was_asked(
        release: Release, tmp_path: Path) -> None:
    bot = release.bot
    before = len(bot.workspace.ephemerals("U0ALICE"))
    bot.slack.command("U0ALICE", PLATFORM, "/backup", "restore latest database=scratch")
    assert "needs 2 approval" in answers(bot, "U0ALICE", before + 1)[before]
    [run] = runs(bot)
    assert BACKUP_ID in run.plan
    newer = "20261128T020000Z-database"
    (tmp_path / "backups" / newer).mkdir()
    Manifest(id=newer, kind="database", created_at="2026-11-28T02:00:00+00:00", dump="database",
             dump_format="directory").write(tmp_path / "backups" / newer)
    approve(bot, run.id)
    done = wait_status(bot, run.id, "succeeded", "failed", timeout=30)
    assert done.status == "failed" and "changed since it was approved" in done.outcome and newer in done.outcome
