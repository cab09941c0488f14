"""Maintenance mode through Slack: signed `/maintenance` commands and approval clicks into the
running bot, against a real nginx (its own prefix, 127.0.0.1), a real Redis and a real Celery
worker consuming from it, with jobs that sleep and leave a marker file each."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from bot.executor import views
from bot.ops.maintenance.page import eta_text
from bot.sandbox.services.postgres import PostgresServer
from bot.sandbox.services.redis import RedisServer
from storage.run_questions import RunQuestion
from tests.support.backups import backup_pack, make_source_database
from tests.support.bot import BotUnderTest, running_bot
from tests.support.celery_worker import Jobs, celery_worker
from tests.support.clock import FakeClock
from tests.support.nginx import Nginx, nginx_site
from tests.support.runs import button_message, runs, wait_status
from tests.support.waiting import eventually
from tests.test_executor_e2e import PLATFORM, Recorder, answers, click

pytestmark = pytest.mark.kind("e2e")


@dataclass
class Site:
    bot: BotUnderTest
    nginx: Nginx
    redis: RedisServer
    jobs: Jobs
    flag: Path
    beat_paused: Path
    pack: Path


def maintenance_yaml(tmp: Path, nginx: Nginx, redis: RedisServer, *, backup: bool, drain_timeout: str) -> dict:
    return {
        **nginx.maintenance_sections(probe_within="10s"),
        "allowlist": ["127.0.0.2"],
        "queue": {"redis_url": redis.url, "drain_timeout": drain_timeout, "poll_every": "1s", "inspect_timeout": "1s"},
        "pause_scheduler": [{"run": ["touch", str(tmp / "beat-paused")]}],
        "resume_scheduler": [{"run": ["rm", "-f", str(tmp / "beat-paused")]}],
        "backup": backup,
        "flag_file": str(tmp / "srv" / ".maintenance"),
        "health": {"url": f"{nginx.url}/health", "within": "10s", "every": "1s"},
    }


@contextmanager
def start_site(tmp: Path, *, backup_db: tuple[PostgresServer, str] | None = None,
               drain_timeout: str = "1m", database_url: str | None = None) -> Iterator[Site]:
    pack = tmp / "pack"
    pack.mkdir()
    (pack / "schedules.yaml").write_text("{}\n")
    with nginx_site(tmp / "nginx") as nginx, RedisServer(tmp / "redis") as redis, \
            celery_worker(redis.url, tmp / "worker") as jobs:
        if backup_db is not None:
            backup_pack(pack, tmp, *backup_db)
        (tmp / "srv").mkdir()
        (pack / "maintenance.yaml").write_text(yaml.safe_dump(
            maintenance_yaml(tmp, nginx, redis, backup=backup_db is not None, drain_timeout=drain_timeout)))
        with running_bot(tmp, database_url or f"sqlite:///{tmp}/opsbot.db", FakeClock(), playbooks=pack) as bot:
            yield Site(bot, nginx, redis, jobs, tmp / "srv" / ".maintenance", tmp / "beat-paused", pack)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with start_site(tmp_path) as started:
        yield started


def maintenance(bot: BotUnderTest, user: str, text: str, channel: str = PLATFORM) -> str:
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.command(user, channel, "/maintenance", text).status == 200
    return answers(bot, user, before + 1)[before]


def switch(site: Site, text: str) -> int:
    """Request as alice, approve as bob (Platform Ops Lead); returns the run id."""
    assert "needs 1 approval" in maintenance(site.bot, "U0ALICE", text)
    run_id = runs(site.bot)[-1].id
    assert "starting" in click(site.bot, "U0BOB", views.APPROVE, run_id)
    return run_id


def thread_text(bot: BotUnderTest) -> str:
    bot.settle()
    return "\n".join(m.text + json.dumps(m.blocks) for m in bot.workspace.messages(PLATFORM))


def test_enable_drains_the_queue_before_the_flag_and_disable_brings_everything_back(
        tmp_path: Path, postgres_server: PostgresServer) -> None:
    make_source_database(postgres_server, "maint_src", users=300)
    with start_site(tmp_path, backup_db=(postgres_server, "maint_src")) as site:
        bot, nginx, jobs = site.bot, site.nginx, site.jobs
        names = [f"job-{i}" for i in range(8)]
        for name in names:
            jobs.enqueue(name, seconds=0.7)  # ~3 s of work for two threads, most of it still queued

        assert "needs 1 approval" in maintenance(bot, "U0ALICE", "enable Database upgrade 2h")
        [run] = runs(bot)
        plan = json.loads(run.plan)
        assert any(t.startswith("drain: wait until the Redis list `celery`") for t in plan)
        drain = next(i for i, t in enumerate(plan) if t.startswith("drain"))
        stop = next(i for i, t in enumerate(plan) if t.startswith("stop consumption"))
        backup = next(i for i, t in enumerate(plan) if t.startswith("pre-maintenance backup: pg_dump"))
        assert drain < stop < backup < len(plan) - 1 and plan[-1].startswith("create the flag file")
        assert nginx.get("/").status == 200, "nothing happens before the approval"

        assert "starting" in click(bot, "U0BOB", views.APPROVE, run.id)
        done = wait_status(bot, run.id, "succeeded", "failed", timeout=120)
        assert done.status == "succeeded", done.outcome + done.output

        page = nginx.get("/")
        eta = eta_text("2h", done.started_at, bot.rt.playbook.settings.zone)
        assert page.status == 503 and page.headers["retry-after"] == "3600"
        assert eta in page.body and "Database upgrade" in page.body and "Scheduled Maintenance" in page.body
        assert nginx.get("/health").body == "application: /health", "health checks still reach the application"
        assert nginx.get("/", source="127.0.0.2").body == "application: /", "allowlisted addresses too"

        finished = jobs.finished()
        assert sorted(finished) == names, "every queued job ran; none was lost"
        assert site.flag.stat().st_mtime >= max(finished.values()), "the flag comes after the last job"
        assert site.beat_paused.exists()
        produced = json.loads(done.produced)
        backup_dir = tmp_path / "backups" / produced["backup"]
        assert (backup_dir / "checksums.txt").exists(), "the pre-maintenance backup was taken and published"

        jobs.enqueue("after-maintenance", seconds=0)
        time.sleep(3)  # consumers are cancelled: the new job must wait in Redis
        assert "after-maintenance" not in jobs.finished()
        with site.redis.client() as client:
            assert client.llen("celery") == 1

        status = maintenance(bot, "U0ALICE", "status")
        assert "*on*" in status and "<@U0ALICE>" in status and "<@U0BOB>" in status
        assert eta in status and "1 job(s) waiting" in status and "present" in status

        off = switch(site, "disable")
        done = wait_status(bot, off, "succeeded", "failed", timeout=60)
        assert done.status == "succeeded", done.outcome + done.output
        assert nginx.get("/").body == "application: /"
        assert not site.flag.exists() and not site.beat_paused.exists()
        assert "maintenance lasted" in json.loads(done.produced)
        eventually(lambda: "after-maintenance" in site.jobs.finished(), timeout=20, what="consumers to be back")
        assert "*off*" in maintenance(bot, "U0ALICE", "status")
        shown = thread_text(bot)
        assert "Maintenance mode is on" in shown and "Maintenance mode is off" in shown


def test_a_broken_maintenance_config_fails_nginx_t_and_changes_nothing(site: Site) -> None:
    bot, nginx = site.bot, site.nginx
    site.nginx.maintenance.write_text(nginx.maintenance.read_text().replace(
        "add_header Retry-After 3600 always;", "add_header Retry-After;"))
    normal = nginx.site.read_text()
    run_id = switch(site, "enable")
    done = wait_status(bot, run_id, "succeeded", "failed", timeout=60)
    assert done.status == "failed"
    assert "refused" in done.outcome and "invalid number of arguments" in done.outcome
    assert nginx.site.read_text() == normal, "the previous configuration is back in place"
    assert nginx.get("/").body == "application: /"
    assert not site.flag.exists() and not site.beat_paused.exists()
    assert "invalid number of arguments" in thread_text(bot), "the thread says why"


def test_redis_unreachable_refuses_the_enable_before_anything_changes(site: Site) -> None:
    """Redis goes away between the request and the approval: the preflight refuses the run with the
    nginx configuration, the page, the allowlist, the scheduler and the flag as they were."""
    bot, nginx = site.bot, site.nginx
    files = {path: path.read_bytes() if path.exists() else None
             for path in (nginx.site, nginx.allowlist, nginx.pages / "maintenance.html")}
    assert "needs 1 approval" in maintenance(bot, "U0ALICE", "enable Database upgrade 2h")
    run_id = runs(bot)[-1].id
    site.redis.stop()
    assert "starting" in click(bot, "U0BOB", views.APPROVE, run_id)
    done = wait_status(bot, run_id, "succeeded", "failed", timeout=60)
    assert done.status == "failed"
    assert f"Redis at {site.redis.url} did not answer (ConnectionError), so nothing was changed" in done.outcome
    assert {path: path.read_bytes() if path.exists() else None for path in files} == files
    assert nginx.get("/").body == "application: /"
    assert not site.flag.exists() and not site.beat_paused.exists()
    assert "so nothing was changed" in thread_text(bot), "the thread says why"


def question_button(site: Site, run_id: int) -> tuple[str, int]:
    """The question's message and id, once the run has asked."""
    def asked() -> RunQuestion | None:
        with Session(site.bot.rt.engine) as session:
            return session.exec(select(RunQuestion).where(RunQuestion.run_id == run_id)).first()

    question = eventually(asked, timeout=60, what="the drain question")
    assert question.id is not None
    return button_message(site.bot, PLATFORM, f"{views.ANSWER}:wait", f"{question.id}:wait").ts, question.id


def answer(site: Site, user: str, ts: str, question_id: int, choice: str) -> str:
    before = len(site.bot.workspace.ephemerals(user))
    value = f"{question_id}:{choice}"
    assert site.bot.slack.click(user, PLATFORM, ts, f"{views.ANSWER}:{choice}", value=value).status == 200
    return answers(site.bot, user, before + 1)[before]


@pytest.fixture
def slow_site(tmp_path: Path) -> Iterator[Site]:
    with start_site(tmp_path, drain_timeout="1s") as started:
        yield started


def test_past_the_drain_timeout_the_requester_is_asked_and_keep_waiting_finishes(tmp_path: Path,
                                                                                  database_url: str) -> None:
    """On SQLite and PostgreSQL: the question and its answer are rows, set once."""
    with start_site(tmp_path, drain_timeout="1s", database_url=database_url) as site:
        _keep_waiting(site)


def _keep_waiting(site: Site) -> None:
    for name in ("slow-1", "slow-2", "slow-3"):
        site.jobs.enqueue(name, seconds=3)
    run_id = switch(site, "enable")
    ts, question = question_button(site, run_id)
    assert "Only the requester or an approver" in answer(site, "U0KIM", ts, question, "wait")
    assert not site.flag.exists(), "the run waits for the answer"
    eventually(lambda: len(site.jobs.finished()) == 3, timeout=30, what="the slow jobs")
    recorder = Recorder(site.bot)
    assert "Answered" in answer(site, "U0ALICE", ts, question, "wait")
    before = len(site.bot.workspace.ephemerals("U0ALICE"))
    recorder.resend(recorder.forms[-1], as_user="U0BOB")  # a client still showing the buttons
    # (the answer goes to the form's response_url, alice's)
    assert "already answered" in answers(site.bot, "U0ALICE", before + 1)[before]
    done = wait_status(site.bot, run_id, "succeeded", "failed", timeout=60)
    assert done.status == "succeeded", done.outcome + done.output
    assert site.flag.exists() and site.nginx.get("/").status == 503


def test_abort_at_the_drain_question_puts_the_site_and_the_scheduler_back(slow_site: Site) -> None:
    site = slow_site
    site.jobs.enqueue("long", seconds=6)
    run_id = switch(site, "enable eta=23:00")
    ts, question = question_button(site, run_id)
    assert site.nginx.get("/").status == 503 and site.beat_paused.exists()
    assert "Answered" in answer(site, "U0BOB", ts, question, "abort")
    done = wait_status(site.bot, run_id, "succeeded", "failed", timeout=60)
    assert done.status == "failed" and "Aborted by <@U0BOB>" in done.outcome
    assert site.nginx.get("/").body == "application: /"
    assert not site.beat_paused.exists() and not site.flag.exists()
    eventually(lambda: "long" in site.jobs.finished(), timeout=20, what="the job in flight to finish, not killed")
    assert "*off*" in maintenance(site.bot, "U0ALICE", "status")
