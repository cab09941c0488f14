"""The guarded executor end to end: signed slash commands and button clicks into the running bot,
real processes, results read from the sandbox workspace and the database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from bot.executor import views
from storage.runs import Approval, AuditRecord
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.runs import button_message, demo_pack, run, runs, wait_status
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

PLATFORM = "C0PLATFORM"


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, database_url, FakeClock(), playbooks=demo_pack(tmp_path / "pack")) as running:
        yield running


def answers(bot: BotUnderTest, user: str, count: int) -> list[str]:
    found = eventually(lambda: len(bot.workspace.ephemerals(user)) >= count and bot.workspace.ephemerals(user),
                       timeout=30, what=f"{count} answer(s) to {user}")
    return [e.text for e in found]


def ops(bot: BotUnderTest, user: str, text: str, channel: str = PLATFORM) -> str:
    before = len(bot.workspace.ephemerals(user))
    response = bot.slack.command(user, channel, "/ops", text)
    assert response.status == 200
    return answers(bot, user, before + 1)[before]


def click(bot: BotUnderTest, user: str, action_id: str, run_id: int, channel: str = PLATFORM) -> str:
    message = button_message(bot, channel, action_id, str(run_id))
    before = len(bot.workspace.ephemerals(user))
    response = bot.slack.click(user, channel, message.ts, action_id, value=str(run_id))
    assert response.status == 200
    return answers(bot, user, before + 1)[before]


class Recorder:
    """Keeps the signed forms the simulator sends, to deliver them again: a double click, a replay,
    or a click from a client still showing buttons the bot has since removed."""

    def __init__(self, bot: BotUnderTest) -> None:
        self.bot = bot
        self.forms: list[dict[str, str]] = []
        self._post_form = bot.slack._post_form
        bot.slack._post_form = self._record  # type: ignore[method-assign]

    def _record(self, form: dict[str, str], timestamp: object, signature: object) -> object:
        self.forms.append(form)
        return self._post_form(form, timestamp, signature)

    def resend(self, form: dict[str, str], *, as_user: str | None = None, action_id: str | None = None) -> None:
        payload = json.loads(form["payload"])
        if as_user:
            payload["user"]["id"] = as_user
        if action_id:
            payload["actions"][0]["action_id"] = action_id
        assert self._post_form({"payload": json.dumps(payload)}, None, None).status == 200


def test_low_risk_runs_at_once_with_plan_progress_and_summary_in_the_thread(bot: BotUnderTest) -> None:
    answer = ops(bot, "U0ALICE", "run demo.echo word=ship-it")
    assert "starting" in answer
    [only] = runs(bot)
    done = wait_status(bot, only.id, "succeeded")
    assert "ship-it" in done.output and done.started_at is not None
    bot.settle()
    messages = bot.workspace.messages(PLATFORM)
    request = next(m for m in messages if "requested `demo.echo`" in m.text)
    thread = bot.workspace.thread(PLATFORM, request.ts)
    assert any("run echo ship-it" in json.dumps(m.blocks) for m in [request])
    assert any("succeeded" in m.text for m in thread)
    progress = next(m for m in thread if m.text.startswith(f"Run #{only.id}"))
    assert "1 of 1 steps done" in progress.text
    assert views.CANCEL not in json.dumps(progress.blocks)  # the finished run has no Cancel button


def test_declared_working_directory_and_no_dry_run(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.pwd")
    done = wait_status(bot, runs(bot)[0].id, "succeeded")
    assert "/tmp\n" in done.output
    bot.settle()
    request = next(m for m in bot.workspace.messages(PLATFORM) if "requested `demo.pwd`" in m.text)
    assert "No dry run" in json.dumps(request.blocks) and "run pwd" not in json.dumps(request.blocks)


def test_parameters_outside_the_declaration_run_nothing(bot: BotUnderTest) -> None:
    assert "must match" in ops(bot, "U0ALICE", "run demo.echo word=$(reboot)")
    assert "no parameter" in ops(bot, "U0ALICE", "run demo.echo shell=yes")
    assert "no action `demo.rm`" in ops(bot, "U0ALICE", "run demo.rm")
    assert "may only be requested in #platform-ops" in ops(bot, "U0ALICE", "run demo.critical", channel="C0GENERAL")
    assert "`demo.elsewhere` is unavailable here: it needs a Docker Engine, and this one has none" in ops(
        bot, "U0ALICE", "run demo.elsewhere")
    assert runs(bot) == []


def test_high_risk_waits_for_an_allowed_approver_never_the_requester(bot: BotUnderTest) -> None:
    assert "needs 1 approval" in ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    [pending] = runs(bot)
    assert pending.status == "pending"
    assert "your approval does not count" in click(bot, "U0ALICE", views.APPROVE, pending.id)
    assert "not one of them" in click(bot, "U0KIM", views.APPROVE, pending.id)
    assert run(bot, pending.id).status == "pending"
    assert "starting" in click(bot, "U0BOB", views.APPROVE, pending.id)
    wait_status(bot, pending.id, "succeeded")
    with Session(bot.rt.engine) as session:
        events = [r.event for r in session.exec(select(AuditRecord).where(AuditRecord.run_id == pending.id))]
    assert events == ["requested", "approved", "started", "succeeded"]


def test_double_and_replayed_clicks_change_nothing(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.critical")
    [pending] = runs(bot)
    message = button_message(bot, PLATFORM, views.APPROVE, str(pending.id))
    recorder = Recorder(bot)
    bot.slack.click("U0BOB", PLATFORM, message.ts, views.APPROVE, value=str(pending.id))
    click_form = recorder.forms[-1]
    recorder.resend(click_form)  # the same click delivered twice
    texts = answers(bot, "U0BOB", 2)
    assert any("still needs 1 more" in t for t in texts)
    assert any("already answered" in t or "same moment" in t for t in texts)
    with Session(bot.rt.engine) as session:
        assert len(session.exec(select(Approval)).all()) == 1
    assert run(bot, pending.id).status == "pending"
    assert "starting" in click(bot, "U0DAVE", views.APPROVE, pending.id)
    wait_status(bot, pending.id, "succeeded")
    recorder.resend(click_form)  # replayed after the run: nothing runs again
    assert "already succeeded" in answers(bot, "U0BOB", 3)[2]
    assert [r.status for r in runs(bot)] == ["succeeded"]


def test_approval_after_expiry_or_denial_runs_nothing(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    ops(bot, "U0ALICE", "run demo.critical")
    first, second = runs(bot)
    bot.clock.advance(timedelta(minutes=31))
    assert "expired" in click(bot, "U0BOB", views.APPROVE, first.id)
    assert run(bot, first.id).status == "expired"
    bot.tick()
    assert run(bot, second.id).status == "expired"  # the scheduler expires the rest
    ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    third = runs(bot)[-1]
    recorder = Recorder(bot)
    assert "denied" in click(bot, "U0DAVE", views.DENY, third.id)
    assert not button_message_now(bot, views.APPROVE, third.id)  # the buttons are gone from the thread
    recorder.resend(recorder.forms[-1], as_user="U0BOB", action_id=views.APPROVE)  # from a stale client
    assert "already denied" in answers(bot, "U0DAVE", 2)[-1]  # (the answer goes to the form's response_url)
    with Session(bot.rt.engine) as session:
        assert [a.user_id for a in session.exec(select(Approval).where(Approval.run_id == third.id))] == ["U0DAVE"]
    assert [r.started_at for r in runs(bot)] == [None, None, None]


def button_message_now(bot: BotUnderTest, action_id: str, run_id: int) -> bool:
    bot.settle()
    return any(action_id in json.dumps(m.blocks) and f'"{run_id}"' in json.dumps(m.blocks)
               for m in bot.workspace.messages(PLATFORM))


def test_group_membership_is_checked_live(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    [pending] = runs(bot)
    bot.workspace.state.usergroups["S0OPSLEAD"].users.remove("U0BOB")
    assert "not one of them" in click(bot, "U0BOB", views.APPROVE, pending.id)
    assert run(bot, pending.id).status == "pending"


def test_a_held_lock_refuses_a_second_run_and_cancel_stops_the_first(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.sleep seconds=60")
    [first] = runs(bot)
    click(bot, "U0BOB", views.APPROVE, first.id)
    wait_status(bot, first.id, "running")
    refusal = ops(bot, "U0KIM", "run demo.sleep seconds=0")
    assert f"held by run #{first.id}" in refusal
    assert "not one of them" not in refusal and len(runs(bot)) == 1
    assert "Only the requester or an approver" in click(bot, "U0KIM", views.CANCEL, first.id)
    assert "Cancelling" in click(bot, "U0ALICE", views.CANCEL, first.id)
    stopped = wait_status(bot, first.id, "cancelled")
    assert stopped.finished_at is not None and "Cancelled by" in stopped.outcome
    assert "needs 1 approval" in ops(bot, "U0KIM", "run demo.sleep seconds=0")  # the lock was released


def test_timeout_stops_the_process_and_the_failure_is_posted(bot: BotUnderTest) -> None:
    began = time.monotonic()
    ops(bot, "U0ALICE", "run demo.hang", channel="C0GENERAL")
    [slow] = runs(bot)
    failed = wait_status(bot, slow.id, "failed", timeout=20)
    assert "2s timeout" in failed.outcome
    assert time.monotonic() - began < 15  # the 60 s sleep was stopped at its 2 s timeout
    assert "starting" in click(bot, "U0KIM", views.RETRY, slow.id, channel="C0GENERAL")  # "Request again"
    again = runs(bot)[-1]
    assert again.id != slow.id and again.requested_by == "U0KIM" and again.source == "retry"
    bot.settle()
    assert any(f"run #{slow.id} failed" in t for t in bot.texts(PLATFORM))


def test_secrets_in_output_are_redacted_everywhere(bot: BotUnderTest) -> None:
    token = bot.workspace.identity.token
    ops(bot, "U0ALICE", f"run demo.echo word={token}")
    [echoed] = runs(bot)
    done = wait_status(bot, echoed.id, "succeeded", "failed")
    bot.settle()
    with Session(bot.rt.engine) as session:
        trail = " ".join(r.detail for r in session.exec(select(AuditRecord)))
    assert token not in done.output and token not in trail
    assert all(token not in json.dumps(m.blocks) + m.text for m in bot.workspace.messages(PLATFORM))


def test_the_audit_trail_is_append_only(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.echo")
    wait_status(bot, runs(bot)[0].id, "succeeded")
    with Session(bot.rt.engine) as session:
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text("UPDATE audit_record SET actor = 'someone-else'"))
        session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text("DELETE FROM audit_record"))


def test_history_lists_runs(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.echo word=one")
    wait_status(bot, runs(bot)[0].id, "succeeded")
    history = ops(bot, "U0ALICE", "history")
    assert "`demo.echo` `word=one` succeeded" in history
    listed = ops(bot, "U0ALICE", "list")
    assert "demo.sleep" in listed
    assert "• `demo.elsewhere` — *unavailable here*: it needs a Docker Engine, and this one has none" in listed


def test_incident_roles_approve_runs_requested_in_their_incident_channel(bot: BotUnderTest) -> None:
    channel = bot.declare("declare P1 Database is slow")
    bot.slack.command("U0ALICE", channel, "/incident", "assign commander <@U0BOB>")
    eventually(lambda: any("Incident Commander" in t and "U0BOB" in t for t in bot.texts(channel)), what="IC set")
    assert "needs 1 approval" in ops(bot, "U0ALICE", "run demo.incident_fix", channel=channel)
    [pending] = runs(bot)
    assert pending.incident_id is not None
    assert "not one of them" in click(bot, "U0KIM", views.APPROVE, pending.id, channel=channel)
    assert "starting" in click(bot, "U0BOB", views.APPROVE, pending.id, channel=channel)
    wait_status(bot, pending.id, "succeeded")


def test_opsbot_audit_lists_who_asked_and_who_approved(bot: BotUnderTest, database_url: str, tmp_path: Path) -> None:
    from tests.test_cli import opsbot

    ops(bot, "U0ALICE", "run demo.critical")
    [pending] = runs(bot)
    click(bot, "U0BOB", views.APPROVE, pending.id)
    click(bot, "U0DAVE", views.APPROVE, pending.id)
    wait_status(bot, pending.id, "succeeded")
    listing = opsbot("audit", cwd=tmp_path, env={"DATABASE_URL": database_url})
    assert listing.returncode == 0, listing.stderr
    assert f"#{pending.id}" in listing.stdout and "demo.critical" in listing.stdout and "[succeeded]" in listing.stdout
    assert "asked by U0ALICE" in listing.stdout
    assert "approved by U0BOB" in listing.stdout and "approved by U0DAVE" in listing.stdout
    trail = opsbot("audit", "--run", str(pending.id), cwd=tmp_path, env={"DATABASE_URL": database_url})
    events = [line.split()[2] for line in trail.stdout.splitlines() if line.startswith("  20")]
    assert events == ["requested", "approved", "approved", "started", "succeeded"]
    assert "critical" in trail.stdout.split("output (redacted):")[1]
