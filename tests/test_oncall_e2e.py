"""On-call end to end: a pack with a schedule that owns @oncall, the running bot against the
sandbox Slack, the clock injected and the tick called by the test. The user group follows
handoffs, overrides and swaps (``usergroups.users.update``) and is put back after a hand edit; the
people whose shifts change and the people handing over get DMs, once; escalation pages whoever the
schedule has on call; the calendar feeds parse with a real iCalendar library."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import pytest
import yaml
from sqlmodel import Session, col, select

from bot.oncall import feeds
from bot.oncall.audit import report
from playbooks.loader import PACK_DIR
from storage.followups import FollowUp
from storage.oncall import OncallAudit
from storage.windows import MaintenanceWindow
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

GENERAL = "C0GENERAL"
START = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)  # Saturday; ALICE's daily shift began at 09:00
ONCALL = {"schedules": {"primary": {
    "description": "Primary on-call", "timezone": "UTC", "usergroup": "@oncall",
    "editors": ["@platform-ops-lead", "U0LEO"],
    "layers": [{"name": "daily", "people": ["U0ALICE", "U0KIM", "U0LEO"], "shift": "daily", "handoff": "09:00",
                "start": "2026-11-28"}]}}, "drift_check_every": "5m"}


def pack(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "oncall.yaml").write_text(yaml.safe_dump(ONCALL))
    levels = yaml.safe_load((PACK_DIR / "escalation.yaml").read_text())
    levels[1]["notify"] = ["schedule:primary"]  # P1 starts at level 2
    (folder / "escalation.yaml").write_text(yaml.safe_dump(levels))
    return folder


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}", FakeClock(START),
                     playbooks=pack(tmp_path / "pack")) as running:
        yield running


def at(bot: BotUnderTest, when: datetime) -> None:
    bot.clock.advance(when - bot.clock())  # type: ignore[attr-defined]
    bot.tick()
    bot.settle()


def group(bot: BotUnderTest) -> list[str]:
    found = bot.workspace.usergroup_by_handle("@oncall")
    assert found is not None
    return found.users


def dms(bot: BotUnderTest, user: str, needle: str) -> list[str]:
    return [m.text for m in bot.workspace.dms_to(user) if needle in m.text]


def command(bot: BotUnderTest, text: str, user: str) -> str:
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.command(user, GENERAL, "/oncall", text).status == 200
    found = eventually(lambda: len(bot.workspace.ephemerals(user)) > before and bot.workspace.ephemerals(user),
                       timeout=30, what="the answer")
    bot.settle()
    return found[before].text


def audit(bot: BotUnderTest) -> list[OncallAudit]:
    with Session(bot.engine) as session:
        return list(session.exec(select(OncallAudit).order_by(col(OncallAudit.id))).all())


def test_the_group_follows_handoffs_overrides_and_swaps_and_a_hand_edit_is_put_back(bot: BotUnderTest) -> None:
    at(bot, START)
    assert group(bot) == ["U0ALICE"]  # the first pass takes the group over
    assert not dms(bot, "U0ALICE", "on call")  # ...and tells nobody: it is not a handoff
    assert "now <@U0ALICE> until Sun 29 Nov 09:00; next <@U0KIM> from Sun 29 Nov 09:00" in \
        command(bot, "", "U0DAVE")

    at(bot, datetime(2026, 11, 29, 9, 0, 5, tzinfo=UTC))
    assert group(bot) == ["U0KIM"]
    assert len(dms(bot, "U0KIM", "You are now on call for *primary*")) == 1
    assert len(dms(bot, "U0ALICE", "Your *primary* shift is over")) == 1
    bot.tick()  # a second tick (or a second replica, or a restart) tells nobody again
    bot.settle()
    assert len(dms(bot, "U0KIM", "You are now on call")) == 1

    # Someone edits the group by hand; the next check puts it back and the audit says so.
    bot.workspace.edit_usergroup("@oncall", ["U0KIM", "U0DAVE"])
    at(bot, bot.clock() + timedelta(minutes=6))
    assert group(bot) == ["U0KIM"]
    restored = [a for a in audit(bot) if a.event == "group_restored"]
    assert len(restored) == 1 and "U0DAVE" in restored[0].detail

    # Bad input is answered and changes nothing.
    assert "`soon` is not a time" in command(bot, "override <@U0DAVE|dave> soon 2h", "U0BOB")
    assert "would already be over" in command(bot, "override <@U0DAVE|dave> 2026-11-01 2026-11-02", "U0BOB")
    assert "There is no schedule `nope`" in command(bot, "override <@U0DAVE|dave> now 2h nope", "U0BOB")

    # Only the schedule's editors may override; an override takes the group at once.
    refused = command(bot, "override <@U0DAVE|dave> now 2h", "U0KIM")
    assert "Only members of @platform-ops-lead, <@U0LEO> may change the `primary` schedule" in refused
    answer = command(bot, "override <@U0DAVE|dave> now 2h", "U0BOB")
    assert "<@U0DAVE> is on call for *primary*" in answer and "over <@U0KIM>" in answer
    eventually(lambda: group(bot) == ["U0DAVE"], what="the group to follow the override")
    assert dms(bot, "U0DAVE", "put you on call for *primary*") and dms(bot, "U0KIM", "put <@U0DAVE> on call")
    override = next(a for a in audit(bot) if a.event == "override")
    assert override.actor == "U0BOB" and "U0DAVE" in override.detail

    # Escalation pages whoever the final schedule has on call: the override, not the rota.
    channel = bot.declare("declare P1 Checkout is failing", user="U0BOB")
    bot.tick()
    bot.settle()
    escalated = [t for t in bot.texts(channel) if "Escalation level 2" in t]
    assert escalated and "<@U0DAVE>" in escalated[0] and "<@U0KIM>" not in escalated[0]

    # The override ends: the group goes back to the rota, and the handoff briefing names the open
    # incident, the follow-up due and the maintenance window of KIM's shift (and not those after it).
    with Session(bot.engine) as session:
        made = {"created_by": "U0BOB", "created_at": bot.clock()}
        session.add_all([
            FollowUp(incident_id=1, owner="U0LEO", text="Add a checkout alert", due_on=date(2026, 11, 30), **made),
            FollowUp(incident_id=1, owner="U0LEO", text="Later work", due_on=date(2026, 12, 9), **made),
            MaintenanceWindow(title="PostgreSQL upgrade", starts_at=datetime(2026, 11, 29, 22, tzinfo=UTC),
                              ends_at=datetime(2026, 11, 29, 23, tzinfo=UTC), **made)])
        session.commit()
    at(bot, bot.clock() + timedelta(hours=2, minutes=1))
    assert group(bot) == ["U0KIM"]
    [brief] = dms(bot, "U0KIM", "You are now on call")[-1:]
    assert "INC-0001" in brief and "FU-1 due Mon 30 Nov" in brief and "PostgreSQL upgrade" in brief
    assert "Later work" not in brief
    assert dms(bot, "U0DAVE", "Your *primary* shift is over")

    # LEO hands his Monday shift to ALICE; at Monday's handoff ALICE takes the group.
    assert "You have no shift on Mon 30 Nov 2026" in command(bot, "swap <@U0ALICE|alice> 2026-11-30", "U0BOB")
    answer = command(bot, "swap <@U0ALICE|alice> 2026-11-30", "U0LEO")
    assert "<@U0ALICE> takes your *primary* shift Mon 30 Nov 09:00 to Tue 01 Dec 09:00 (UTC)" in answer
    assert dms(bot, "U0ALICE", "<@U0LEO> handed you their *primary* shift")
    at(bot, datetime(2026, 11, 30, 9, 0, 5, tzinfo=UTC))
    assert group(bot) == ["U0ALICE"]
    # her own Tuesday shift follows the swapped one: one stretch, told once
    assert len(dms(bot, "U0ALICE", "You are now on call for *primary* until Wed 02 Dec 09:00")) == 1
    assert [a.event for a in audit(bot)].count("swap") == 1
    trail = report(bot.engine).splitlines()  # `opsbot audit --oncall`, newest first
    assert trail[0].startswith("2026-11-30 09:00:05Z primary handoff by opsbot")
    assert any(" primary swap by U0LEO " in line for line in trail)
    assert any(" primary override by U0BOB " in line and "U0DAVE" in line for line in trail)
    assert any(" primary group_restored by opsbot " in line for line in trail)


def test_calendar_feeds_are_signed_and_parse_as_icalendar(bot: BotUnderTest) -> None:
    at(bot, START)
    answer = command(bot, "me", "U0KIM")
    assert "*primary*: Sun 29 Nov 09:00 to Mon 30 Nov 09:00 (UTC)" in answer
    link = answer.rsplit(" ", 1)[-1]
    assert link.startswith("http://127.0.0.1:3000/oncall.ics?user=U0KIM&sig=")
    mine = httpx.get(f"{bot.url}/oncall.ics?{link.split('?', 1)[1]}", timeout=10)
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/calendar")
    events = list(icalendar.Calendar.from_ical(mine.content).walk("VEVENT"))
    assert events and all("U0KIM" in str(e["summary"]) for e in events)
    assert events[0].decoded("dtstart") == datetime(2026, 11, 29, 9, tzinfo=UTC)
    assert events[0].decoded("dtend") == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert len({str(e["uid"]) for e in events}) == len(events)

    key = bot.rt.feed_key
    shown = command(bot, "", "U0DAVE")  # `/oncall` links each schedule's calendar
    link = shown.split("<", 3)[-1].split("|")[0]
    assert link.startswith("http://127.0.0.1:3000/oncall.ics?schedule=primary&sig=")
    whole = httpx.get(f"{bot.url}/oncall.ics?{link.split('?', 1)[1]}", timeout=10)
    people = [str(e["summary"]) for e in icalendar.Calendar.from_ical(whole.content).walk("VEVENT")]
    assert any("U0ALICE" in p for p in people) and any("U0LEO" in p for p in people)

    forged = feeds.signature(key, "user:U0KIM")
    for query in ({"schedule": "primary", "sig": "0" * 32}, {"user": "U0ALICE", "sig": forged},
                  {"schedule": "primary"}, {}):
        assert httpx.get(f"{bot.url}/oncall.ics", params=query, timeout=10).status_code == 404
