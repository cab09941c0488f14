"""The Home tab: published on a signed ``app_home_opened`` from the sandbox Slack, refreshed after
changes (at most once every few seconds per person), its Approve button running the thread's rules,
and never more than Slack's 100 blocks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.committed import Changed
from bot.home import service, views
from bot.home.refresh import HomeRefresh
from bot.sandbox.methods.views import view_errors
from playbooks.loader import load_playbook
from storage.changes import ChangeRequest
from storage.followups import FollowUp
from storage.models import Incident
from storage.runs import AuditRecord, Run
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.runs import demo_pack, run, runs, wait_status
from tests.support.waiting import eventually
from tests.test_changes import request as change_request

pytestmark = pytest.mark.kind("e2e")

PLATFORM = "C0PLATFORM"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotUnderTest]:
    folder = tmp_path_factory.mktemp("home")
    with running_bot(folder, f"sqlite:///{folder}/opsbot.db", FakeClock(), playbooks=demo_pack(folder / "pack")) as b:
        b.rt.home.every = 0.3  # the interval between two publications of one tab (5 s in production)
        b.rt.home.pace = 0.0
        yield b


def home_of(bot: BotUnderTest, user: str, *, containing: str) -> dict:
    """The user's published Home tab, once it contains ``containing``."""
    def published() -> dict | None:
        view = bot.workspace.home(user)
        return view.view if view is not None and containing in json.dumps(view.view) else None

    return eventually(published, timeout=10, what=f"{user}'s Home tab showing {containing!r}")


def text_of(view: dict) -> str:
    return json.dumps(view["blocks"])


def ops(bot: BotUnderTest, user: str, text: str) -> None:
    assert bot.slack.command(user, PLATFORM, "/ops", text).status == 200


def test_opening_the_home_tab_publishes_what_waits_for_that_person(bot: BotUnderTest) -> None:
    channel = bot.declare("declare P1 Checkout is failing", user="U0ALICE")
    assert bot.slack.command("U0ALICE", channel, "/incident", "assign ic <@U0BOB|bob>").status == 200
    ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    pending = eventually(lambda: runs(bot), what="the run to be requested")[-1]

    response = bot.slack.open_home("U0BOB")  # a signed Events API delivery
    assert response.status == 200
    shown = text_of(home_of(bot, "U0BOB", containing=f"Run #{pending.id}"))
    assert "INC-0001" in shown and "Checkout is failing" in shown
    assert "you are Incident Commander" in shown  # the incidents he holds a role in
    assert views.APPROVE_RUN in shown and views.DENY_RUN in shown
    assert "@oncall" in shown and "U0ALICE" in shown and "U0KIM" in shown  # on call now
    assert bot.workspace.calls_to("views.publish")[-1].args["user_id"] == "U0BOB"

    bot.slack.open_home("U0ALICE")  # the requester is never offered her own run
    alice = text_of(home_of(bot, "U0ALICE", containing="INC-0001"))
    assert f"Run #{pending.id}" not in alice and "Nothing is waiting for you" in alice

    bot.clock.advance(timedelta(minutes=31))  # P1's 30-minute cadence: the update is late
    bot.tick()  # the cadence reminder changes the incident: open tabs are refreshed
    shown = text_of(home_of(bot, "U0BOB", containing="update overdue"))
    assert ":red_circle: *update overdue* by 1m (was due 10:00 UTC)" in shown  # declared 09:30, P1 every 30m


def test_approve_on_the_home_tab_follows_the_threads_rules(bot: BotUnderTest) -> None:
    ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    first = runs(bot)[-1]
    ops(bot, "U0ALICE", "run demo.sleep seconds=0")
    second = runs(bot)[-1]
    bot.slack.open_home("U0BOB")
    home_of(bot, "U0BOB", containing=f"Run #{second.id}")
    tab = bot.workspace.home("U0BOB")
    assert tab is not None

    assert bot.slack.click_view("U0BOB", tab.id, views.APPROVE_RUN, value=str(first.id)).status == 200
    home_of(bot, "U0BOB", containing=f"Run #{first.id} is starting")  # the answer, at the top of his tab
    wait_status(bot, first.id, "succeeded")
    bot.settle()
    with Session(bot.engine) as session:
        audit = [(r.event, r.actor) for r in session.exec(select(AuditRecord).where(AuditRecord.run_id == first.id))]
    assert audit[:2] == [("requested", "U0ALICE"), ("approved", "U0BOB")]  # as after a click in the thread
    assert any(m.text == "✅ Approved by <@U0BOB>. Starting." for m in bot.workspace.messages(PLATFORM))

    # Membership is read at the click: bob left @platform-ops-lead after his tab was drawn.
    bot.workspace.state.usergroups["S0OPSLEAD"].users.remove("U0BOB")
    try:
        tab = bot.workspace.home("U0BOB")
        assert tab is not None and f'"value": "{second.id}"' in json.dumps(tab.view)
        bot.slack.click_view("U0BOB", tab.id, views.APPROVE_RUN, value=str(second.id))
        home_of(bot, "U0BOB", containing="you are not one of them")
        assert run(bot, second.id).status == "pending"
    finally:
        bot.workspace.state.usergroups["S0OPSLEAD"].users.append("U0BOB")


def test_a_change_request_waits_on_the_team_leads_tab_and_is_approved_there(bot: BotUnderTest) -> None:
    cr = change_request(bot, "normal")  # requested by alice; a Team Lead (dave) approves
    bot.slack.open_home("U0ALICE")
    mine = text_of(home_of(bot, "U0ALICE", containing=f"*{cr.number}* Upgrade the API gateway"))
    assert "requested" in mine and views.APPROVE_CHANGE not in mine  # hers, under "Your change requests"
    bot.slack.open_home("U0DAVE")
    tab = home_of(bot, "U0DAVE", containing=views.APPROVE_CHANGE)
    assert f"{cr.number}* Normal change" in text_of(tab)
    view = bot.workspace.home("U0DAVE")
    assert view is not None
    bot.slack.click_view("U0DAVE", view.id, views.APPROVE_CHANGE, value=str(cr.id))
    after = text_of(home_of(bot, "U0DAVE", containing=f"You approved {cr.number}."))
    assert views.APPROVE_CHANGE not in after  # nothing waits any more
    with Session(bot.engine) as session:
        stored = session.get(ChangeRequest, cr.id)
        assert stored is not None and (stored.status, stored.approved_by) == ("approved", "U0DAVE")


def test_many_changes_publish_a_tab_at_most_once_per_interval(bot: BotUnderTest) -> None:
    bot.rt.home.every = 2.0
    try:
        bot.slack.open_home("U0DAVE")
        eventually(lambda: bot.workspace.home("U0DAVE"), what="dave's Home tab")
        before = len([c for c in bot.workspace.calls_to("views.publish") if c.args["user_id"] == "U0DAVE"])
        started = time.monotonic()
        for _ in range(8):  # eight commits that each change every Home tab (a new run waiting)
            ops(bot, "U0ALICE", "run demo.echo word=x")
        elapsed = time.monotonic() - started
        eventually(lambda: bot.rt.home.pending() == 0, timeout=10, what="the refresh to settle")
        time.sleep(0.2)
        after = len([c for c in bot.workspace.calls_to("views.publish") if c.args["user_id"] == "U0DAVE"])
        assert 1 <= after - before <= int(elapsed // 2.0) + 2, (after - before, elapsed)
    finally:
        bot.rt.home.every = 0.3


# -- units: the view's limits, whose tab a commit changes, the throttle ------------------------------
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def crowded_home(incidents: int, waiting: int) -> service.Home:
    opened = [service.OpenIncident(
        Incident(id=i, title=f"Outage {i} <script>", severity="P1", phase="detect", declared_by="U0ALICE",
                 declared_at=NOW - timedelta(minutes=40), channel_id=f"C{i:04d}"),
        "P1 - High", "U0BOB", NOW + timedelta(minutes=25), NOW - timedelta(minutes=5), roles=())
        for i in range(1, incidents + 1)]
    runs_waiting = [service.WaitingRun(Run(id=i, action="backup.restore", params="{}", risk="critical",
                                           approvals_needed=2, requested_by="U0ALICE", requested_in=PLATFORM,
                                           source="command", plan="[]", expires_at=NOW + timedelta(minutes=20)),
                                       "Restore a backup") for i in range(1, waiting + 1)]
    return service.Home(user="U0BOB", now=NOW, today=date(2026, 11, 30), mine=[], open=opened, runs=runs_waiting,
                        changes_to_approve=[], my_changes=[], followups=[], refs={}, windows=[], on_call=[])


@pytest.mark.kind("unit")
def test_a_crowded_home_tab_stays_within_100_blocks_and_says_how_many_more() -> None:
    playbook = load_playbook(None)
    view = views.home_view(playbook, crowded_home(incidents=40, waiting=80), notice="Approved. Run #3 is starting.")
    assert len(view["blocks"]) <= views.BLOCK_LIMIT
    assert view_errors(view, "home") == []  # the sandbox's copy of Slack's checks
    shown = json.dumps(view["blocks"])
    buttons = shown.count(views.APPROVE_RUN)
    assert 0 < buttons < 80 and f"and {80 - buttons} more waiting for you" in shown
    assert f"and {40 - views.LINES} more open incidents" in shown
    assert "&lt;script&gt;" in shown and "<script>" not in shown  # titles as typed, never markup
    assert ":red_circle: *update overdue* by 5m" in shown


@pytest.mark.kind("unit")
def test_whose_tab_a_commit_changes() -> None:
    followup = FollowUp(id=1, incident_id=1, owner="U0KIM", text="x", due_on=date(2026, 12, 1), created_by="U0BOB")
    assert service.affected(Changed(rows={"follow_up": [followup]})) == {"U0KIM"}
    assert service.affected(Changed(rows={"incident": [object()]})) is None  # everyone's open incidents
    assert service.affected(Changed(bulk={"run"})) is None
    assert service.affected(Changed(rows={"timeline_entry": [object()]})) == frozenset()


@pytest.mark.kind("unit")
def test_the_refresh_folds_a_burst_of_marks_into_one_publication_per_interval() -> None:
    published: list[tuple[str, str | None]] = []
    lock = threading.Lock()

    def publish(user: str, notice: str | None) -> None:
        with lock:
            published.append((user, notice))

    refresh = HomeRefresh(publish, every=0.5, pace=0.0)
    try:
        refresh.opened("U0BOB")
        refresh.opened("U0KIM")
        eventually(lambda: len(published) == 2, timeout=5, what="both tabs published")
        started = time.monotonic()
        while time.monotonic() - started < 1.2:  # a burst of changes to everyone's tab
            refresh.changed(None)
            refresh.changed(frozenset({"U0BOB", "U0NOBODY"}))  # U0NOBODY never opened the tab
            time.sleep(0.01)
        eventually(lambda: refresh.pending() == 0, timeout=5, what="the refresh to settle")
        elapsed = time.monotonic() - started
        bob = [n for u, n in published if u == "U0BOB"]
        assert 2 <= len(bob) <= int(elapsed / 0.5) + 2  # hundreds of marks, a few publications
        assert "U0NOBODY" not in {u for u, _ in published}
        refresh.tell("U0KIM", "Approved. Run #7 is starting.")  # a click's answer goes out at once
        eventually(lambda: ("U0KIM", "Approved. Run #7 is starting.") in published, timeout=5, what="the answer")
    finally:
        refresh.stop()
