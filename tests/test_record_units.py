"""The incident record's pure parts: due dates and `/followups` text, `/incident note at`, Slack
text as canvas Markdown, and a post-mortem regeneration telling additions from changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import Help, ParseError
from bot.followups import commands as followups
from bot.followups.commands import Due, parse_due
from bot.incidents import commands as cmd
from bot.postmortems import document
from bot.postmortems.document import Facts
from bot.timeline import views as timeline_views
from playbooks.check import check
from playbooks.loader import load_playbook
from storage.followups import FollowUp
from storage.models import Incident, StatusUpdate, TimelineEntry

pytestmark = pytest.mark.kind("unit")
PACK = load_playbook()
SATURDAY = date(2026, 11, 28)


@pytest.mark.parametrize(("word", "due"), [
    ("today", SATURDAY), ("tomorrow", date(2026, 11, 29)), ("3d", date(2026, 12, 1)), ("+10d", date(2026, 12, 8)),
    ("friday", date(2026, 12, 4)), ("Sat", date(2026, 12, 5)), ("mon", date(2026, 11, 30)),
    ("2027-01-15", date(2027, 1, 15)),
])
def test_due_dates_as_people_type_them(word: str, due: date) -> None:
    parsed = parse_due(word)
    assert parsed is not None and parsed.resolve(SATURDAY) == due


@pytest.mark.parametrize("word", ["someday", "2026-02-30", "fr", "999d", "-1d", "", "12/05"])
def test_what_is_not_a_due_date(word: str) -> None:
    assert parse_due(word) is None


def test_followups_command() -> None:
    assert followups.parse("") == followups.Mine() == followups.parse("mine")
    assert followups.parse("all") == followups.AllOpen()
    assert followups.parse("done FU-12") == followups.MarkDone(12) == followups.parse("done 12")
    assert followups.parse("help") == Help()
    assert isinstance(followups.parse("done"), ParseError) and isinstance(followups.parse("delete FU-1"), ParseError)


@given(st.text(max_size=200))
def test_any_followups_text_is_a_command_or_says_how(text: str) -> None:
    result = followups.parse(text)
    assert isinstance(result, followups.Command.__args__) or (  # type: ignore[attr-defined]
        isinstance(result, ParseError) and "/followups" in result.message)


def test_incident_record_verbs() -> None:
    assert cmd.parse("note at 9:05 First alert") == cmd.NoteAt(9, 5, "First alert")
    assert cmd.parse("note at 2026-11-28 23:50 Failover") == cmd.NoteAt(23, 50, "Failover", date(2026, 11, 28))
    assert cmd.parse("note at the office we saw it") == cmd.Note("at the office we saw it")
    assert isinstance(cmd.parse("note at 2026-13-01 10:00 x"), ParseError)
    assert cmd.parse("timeline") == cmd.ShowTimeline()
    assert cmd.parse("followup <@U0KIM|kim> 3d Add an alert") == cmd.AddFollowUp("U0KIM", Due(in_days=3),
                                                                                  "Add an alert")
    assert cmd.parse("follow-up") == cmd.OpenFollowUpForm()
    assert isinstance(cmd.parse("followup <@U0KIM> friday"), ParseError)


def test_slack_text_becomes_canvas_markdown_on_one_line() -> None:
    text = ("see <@U0BOB|bob> in <#C0OPS|ops>: <https://grafana/d/1|the dashboard> <!channel>\n"
            "| a | b |\n## not a heading")
    assert document.inline(text) == ("see ![](@U0BOB) in ![](#C0OPS): [the dashboard](https://grafana/d/1) @channel "
                                      "\\| a \\| b \\| ## not a heading")
    assert document.inline("<!subteam^S0ONCALL|@oncall> &lt;b&gt; &amp;") == "@oncall <b> &"
    assert document.as_plain_markdown("- **IC**: ![](@U0BOB) in ![](#C0OPS)") == "- **IC**: @U0BOB in #C0OPS"
    assert timeline_views.quiet("<!here> look <@U0BOB>") == "@here look <@U0BOB>"


def incident() -> Incident:
    at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    return Incident(id=1, title="Payments failing", severity="P1", phase="detect", declared_by="U0ALICE",
                    declared_at=at, resolved_at=at + timedelta(minutes=42), resolution_summary="Reverted")


def entry(n: int, minutes: int, text: str, **extra: object) -> TimelineEntry:
    at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC) + timedelta(minutes=minutes)
    return TimelineEntry(id=n, incident_id=1, at=at, author="U0BOB", kind="note", text=text, **extra)


def facts(entries: list[TimelineEntry], updates: list[StatusUpdate] | None = None,
          followups_: list[FollowUp] | None = None) -> Facts:
    return Facts(incident(), entries, {"incident_commander": "U0BOB"}, {}, updates or [], [], followups_ or [])


def test_the_impact_line_is_the_updates_impact_fields_in_order() -> None:
    at = datetime(2026, 11, 28, 9, 40, tzinfo=UTC)
    updates = [StatusUpdate(incident_id=1, at=at, author="U0BOB", status=s, impact=i, actions="Update: Mitigating")
               for s, i in (("Investigating", "20% of checkouts fail"), ("Mitigating", "20% of checkouts fail"),
                            ("Monitoring", "5% slow"), ("Monitoring", ""))]
    assert document.impact(updates) == "20% of checkouts fail → 5% slow"
    assert document.impact([]) == "[Users/revenue affected]"
    assert document.mitigated_at(incident(), updates) == at
    built = document.build(PACK, facts([], updates)).markdown
    assert "- **Impact**: 20% of checkouts fail → 5% slow\n" in built and "Update: Mitigating" not in built


def test_a_regeneration_tells_additions_from_changes() -> None:
    first = document.build(PACK, facts([entry(1, 0, "Declared"), entry(2, 5, "Found it")]))
    nothing = document.compare(PACK, first, facts([entry(1, 0, "Declared"), entry(2, 5, "Found it")]))
    assert (nothing.new_entries, nothing.new_followups, nothing.changed) == ([], [], [])

    backdated = entry(3, -10, "First alert fired")  # a note about before: added at the end, not a change
    later = document.compare(PACK, first, facts([backdated, entry(1, 0, "Declared"), entry(2, 5, "Found it")]))
    assert [e.id for e in later.new_entries] == [3] and later.changed == []
    key = document.section_of(PACK, "timeline")
    added = document.appended(first, key, document.entry_line(PACK, incident(), backdated), [3], [])
    assert document.heading_after(first, key) == "Response Checklist"
    assert "- **09:35** - Found it (![](@U0BOB))\n- **09:20** - First alert fired (![](@U0BOB))\n\n## Response" \
        in added.markdown
    again = document.compare(PACK, added, facts([backdated, entry(1, 0, "Declared"), entry(2, 5, "Found it")]))
    assert (again.new_entries, again.changed) == ([], [])

    edited = entry(2, 5, "Found it: pool size 1", edited_at=datetime(2026, 11, 28, 10, tzinfo=UTC))
    changed = document.compare(PACK, added, facts([backdated, entry(1, 0, "Declared"), edited]))
    assert changed.changed == ["Timeline"]


def test_sections_are_split_at_level_two_headings() -> None:
    sections = document.split("# Title\ntext\n## A\n- a\n### Sub\nx\n## A\ny\n")
    assert [(s.key, s.title) for s in sections] == [("head", ""), ("a", "A"), ("a_2", "A")]
    assert "".join(s.text for s in sections) == "# Title\ntext\n## A\n- a\n### Sub\nx\n## A\ny\n"


@pytest.mark.parametrize(("text", "key", "message"), [
    ("timeline: {emoji: ['push pin']}", "timeline.emoji[0]", "'push pin' is not an emoji name"),
    ("timeline: {emoji: []}", "timeline.emoji", "name at least one emoji"),
    ("followups: {remind_at: '9am'}", "followups.remind_at", "'9am' is not a time of day"),
    ("followups: {tracker: {kind: github, repository: platform}}", "followups.tracker.github.repository",
     "should match pattern"),
    ("followups: {tracker: {kind: jira, site: https://acme.atlassian.net, project: OPS, labels: [a b]}}",
     "followups.tracker.jira.labels", "Jira labels cannot contain spaces"),
    ("followups: {tracker: {kind: gitlab}}", "followups.tracker", "does not match any of the expected tags"),
    ("postmortem: {canvas: true, format: pdf}", "postmortem.format", "unknown key"),
])
def test_record_yaml_problems_name_the_file_and_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    (tmp_path / "record.yaml").write_text(text + "\n")
    [problem] = check(tmp_path)
    assert (problem.file, problem.key) == (str(tmp_path / "record.yaml"), key), problem
    assert message in problem.message, problem
