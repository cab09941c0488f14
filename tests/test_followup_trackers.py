"""Follow-ups kept in step with an issue tracker, both ways, against local stand-ins of the GitHub
Issues and Jira Cloud REST APIs (tests/support): created there, closed there marks them done here,
done here closes them there; an outage or a lost answer delays the exchange and duplicates nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.followups import service, trackers
from bot.followups.sync import TrackerSync
from bot.incidents import service as incidents
from bot.incidents.service import DeclareRequest
from bot.work import UnitOfWork
from playbooks.loader import load_playbook
from playbooks.models import Playbook
from playbooks.record import FollowUpSettings, GitHubTracker, JiraTracker, RecordSettings
from storage.db import make_engine
from storage.followups import DONE, OPEN, FollowUp
from storage.migrate import upgrade
from storage.models import TimelineEntry
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory
from tests.support.github_issues import GitHubIssuesStandIn
from tests.support.jira_cloud import JiraCloudStandIn

pytestmark = pytest.mark.kind("integration")
TOKEN = "ghp_0123456789abcdefSECRET"


def with_tracker(tracker: GitHubTracker | JiraTracker) -> Playbook:
    pack = load_playbook()
    return pack.model_copy(update={"record": RecordSettings(followups=FollowUpSettings(tracker=tracker))})


class World:
    def __init__(self, tmp_path: Path, playbook: Playbook, env: dict[str, str]) -> None:
        self.clock = FakeClock()
        self.engine = make_engine(f"sqlite:///{tmp_path}/opsbot.db")
        upgrade(self.engine)
        self.work = UnitOfWork(self.engine, playbook, self.clock, StaticDirectory())
        tracker = trackers.from_pack(playbook.record.followups, env)
        assert tracker is not None
        self.sync = TrackerSync(self.work, tracker)
        self.incident = self.work(lambda ctx: incidents.declare(ctx, DeclareRequest("P2", "Slow search", "U0ALICE"))[0])

    def add(self, text: str = "Add an alert on pool exhaustion", owner: str = "U0KIM") -> int:
        followup = self.work(lambda ctx: service.add(ctx, self.incident, owner, date(2026, 12, 4), text, "U0ALICE"))
        assert followup.id is not None
        return followup.id

    def followup(self, followup_id: int) -> FollowUp:
        return self.work(lambda ctx: ctx.session.get(FollowUp, followup_id))

    def later(self, minutes: int = 6) -> int:
        self.clock.advance(timedelta(minutes=minutes))
        return self.sync.run_due()


@pytest.fixture
def github(tmp_path: Path) -> Iterator[tuple[World, GitHubIssuesStandIn]]:
    with GitHubIssuesStandIn("acme/platform", token=TOKEN) as stand_in:
        config = GitHubTracker(kind="github", repository="acme/platform", api_url=stand_in.url)
        yield World(tmp_path, with_tracker(config), {"OPSBOT_GITHUB_TOKEN": TOKEN}), stand_in


@pytest.fixture
def jira(tmp_path: Path) -> Iterator[tuple[World, JiraCloudStandIn]]:
    with JiraCloudStandIn("OPS", email="opsbot@example.com", token="jira-api-token") as stand_in:
        config = JiraTracker(kind="jira", site=stand_in.url, project="OPS")
        yield World(tmp_path, with_tracker(config), {"OPSBOT_JIRA_EMAIL": "opsbot@example.com",
                                                     "OPSBOT_JIRA_TOKEN": "jira-api-token"}), stand_in


def test_github_issue_created_then_closed_on_github_marks_it_done(github: tuple[World, GitHubIssuesStandIn]) -> None:
    world, stand_in = github
    followup_id = world.add()
    assert world.sync.run_due() == 1
    [issue] = stand_in.issues.values()
    assert issue["title"] == "Add an alert on pool exhaustion (INC-0001 follow-up)"
    assert [label["name"] for label in issue["labels"]] == ["incident-follow-up"]
    assert "<!-- opsbot-fu-1 -->" in issue["body"] and "Due: 2026-12-04" in issue["body"]
    followup = world.followup(followup_id)
    assert (followup.tracker_key, followup.tracker_url) == ("1", "https://github.com/acme/platform/issues/1")
    assert world.sync.run_due() == 0  # read back every sync_every, not every tick
    assert world.later() == 1 and world.followup(followup_id).status == OPEN

    stand_in.close(1)
    assert world.later() == 1
    followup = world.followup(followup_id)
    assert followup.status == DONE and followup.done_by == "opsbot" and followup.tracker_sync_at is None
    entries = world.work(lambda ctx: [e.text for e in ctx.session.exec(select(TimelineEntry)).all()])
    assert "Follow-up FU-1 done (closed in github)" in entries
    assert world.later(60) == 0 and len(stand_in.calls("PATCH")) == 0  # nothing more to exchange


def test_done_here_closes_the_github_issue(github: tuple[World, GitHubIssuesStandIn]) -> None:
    world, stand_in = github
    followup_id = world.add()
    world.sync.run_due()
    assert "FU-1 is done" in world.work(lambda ctx: service.mark_done(ctx, ctx.session.get(FollowUp, followup_id),
                                                                      "U0KIM"))
    assert world.sync.run_due() == 1
    [patch] = stand_in.calls("PATCH")
    assert patch.body == {"state": "closed", "state_reason": "completed"}
    assert stand_in.issues[1]["state"] == "closed" and world.followup(followup_id).tracker_done


def test_an_outage_queues_the_exchange_and_nothing_waits_for_it(github: tuple[World, GitHubIssuesStandIn]) -> None:
    world, stand_in = github
    stand_in.fail_next(3, status=503)
    followup_id = world.add()  # the follow-up itself never waits for the tracker
    for _ in range(3):
        assert world.sync.run_due() == 0
        failed = world.followup(followup_id)
        assert failed.tracker_key is None and "HTTP 503" in (failed.tracker_error or "")
        assert world.sync.run_due() == 0  # backing off: not tried again at once
        world.clock.advance(timedelta(minutes=30))
    assert world.sync.run_due() == 1
    assert len(stand_in.issues) == 1 and world.followup(followup_id).tracker_error is None


def test_a_lost_answer_does_not_make_a_second_issue(github: tuple[World, GitHubIssuesStandIn]) -> None:
    world, stand_in = github
    stand_in.lose_next_answer()  # GitHub creates the issue; the answer never arrives
    followup_id = world.add()
    assert world.sync.run_due() == 0 and len(stand_in.issues) == 1
    world.clock.advance(timedelta(minutes=1))
    assert world.sync.run_due() == 1
    assert len(stand_in.issues) == 1 and world.followup(followup_id).tracker_key == "1"
    assert len(stand_in.calls("POST")) == 1  # found by its marker instead of made again


def test_a_refused_token_is_reported_and_tried_again_later(tmp_path: Path) -> None:
    with GitHubIssuesStandIn("acme/platform", token="the-right-one") as stand_in:
        config = GitHubTracker(kind="github", repository="acme/platform", api_url=stand_in.url)
        world = World(tmp_path, with_tracker(config), {"OPSBOT_GITHUB_TOKEN": TOKEN})
        followup_id = world.add()
        assert world.sync.run_due() == 0
        error = world.followup(followup_id).tracker_error or ""
        assert "HTTP 401 Bad credentials" in error and TOKEN not in error
        assert world.followup(followup_id).tracker_sync_at is not None


def test_without_its_token_the_tracker_is_off_and_says_which_variable(tmp_path: Path) -> None:
    config = GitHubTracker(kind="github", repository="acme/platform")
    assert trackers.from_pack(FollowUpSettings(tracker=config), {}) is None
    assert trackers.from_pack(FollowUpSettings(tracker=None), {"OPSBOT_GITHUB_TOKEN": TOKEN}) is None


def test_jira_issue_created_moved_to_done_on_the_board_marks_it_done(jira: tuple[World, JiraCloudStandIn]) -> None:
    world, stand_in = jira
    followup_id = world.add()
    assert world.sync.run_due() == 1
    issue = stand_in.issues["OPS-1"]["fields"]
    assert issue["summary"] == "Add an alert on pool exhaustion (INC-0001 follow-up)"
    assert issue["labels"] == ["incident-follow-up", "opsbot-fu-1"] and issue["duedate"] == "2026-12-04"
    assert issue["description"]["type"] == "doc" and issue["issuetype"] == {"name": "Task"}
    assert world.followup(followup_id).tracker_url == f"{stand_in.url}/browse/OPS-1"
    stand_in.move("OPS-1", "In Progress")
    assert world.later() == 1 and world.followup(followup_id).status == OPEN
    stand_in.move("OPS-1", "Done")
    assert world.later() == 1 and world.followup(followup_id).status == DONE


def test_done_here_moves_the_jira_issue_through_a_done_transition(jira: tuple[World, JiraCloudStandIn]) -> None:
    world, stand_in = jira
    followup_id = world.add()
    world.sync.run_due()
    world.work(lambda ctx: service.mark_done(ctx, ctx.session.get(FollowUp, followup_id), "U0ALICE"))
    assert world.sync.run_due() == 1
    [moved] = stand_in.calls("POST", "/rest/api/3/issue/OPS-1/transitions")
    assert moved.body == {"transition": {"id": "31"}}
    assert stand_in.issues["OPS-1"]["fields"]["status"]["statusCategory"]["key"] == "done"


def test_a_lost_jira_answer_is_found_by_its_label(jira: tuple[World, JiraCloudStandIn]) -> None:
    world, stand_in = jira
    stand_in.lose_next_answer()
    followup_id = world.add()
    assert world.sync.run_due() == 0
    world.clock.advance(timedelta(minutes=1))
    assert world.sync.run_due() == 1
    assert list(stand_in.issues) == ["OPS-1"] and world.followup(followup_id).tracker_key == "OPS-1"
    assert len(stand_in.calls("GET", "/rest/api/3/search/jql")) == 1
