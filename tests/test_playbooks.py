"""The bundled playbook pack encodes the operational procedures (seed 5.1), and every mistake in
an override names its file and key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from string import Template
from typing import Any

import pytest
import yaml

from playbooks.check import check
from playbooks.loader import FILES, PACK_DIR, PlaybookError, Problem, load_playbook
from playbooks.models import Playbook
from playbooks.templates import TEMPLATE_PLACEHOLDERS, render

pytestmark = pytest.mark.kind("unit")

MIN = timedelta(minutes=1)

SEED_CHECKLIST = {
    "detect": [
        "Alert received via monitoring/user report",
        "Acknowledge incident in PagerDuty/Slack",
        "Open incident channel #incident-YYYYMMDD-HHMM",
    ],
    "classify": [
        "Determine severity (P0/P1/P2/P3)",
        "Identify affected systems",
        "Estimate user impact",
        "Assign Incident Commander",
    ],
    "contain": [
        "Implement immediate mitigation",
        "Isolate affected systems if needed",
        "Enable emergency mode if required",
        "Preserve evidence for investigation",
    ],
    "investigate": [
        "Review logs and metrics",
        "Identify root cause",
        "Document timeline",
        "Develop fix strategy",
    ],
    "remediate": ["Implement fix", "Test in staging if possible", "Deploy to production", "Monitor for stability"],
    "verify": ["Confirm issue resolved", "Check for side effects", "Monitor for recurrence", "Update status page"],
    "document": [
        "Complete incident report",
        "Update runbooks",
        "Schedule post-mortem",
        "Communicate to stakeholders",
    ],
    "postmortem": ["Hold the post-mortem review", "Assign action items", "Publish the post-mortem"],
}


@pytest.fixture(scope="module")
def pack() -> Playbook:
    return load_playbook()


def write_override(folder: Path, file: str, change: Callable[[Any], object]) -> Path:
    """Copy a bundled file into ``folder`` with ``change`` applied to its parsed document."""
    doc = yaml.safe_load((PACK_DIR / file).read_text(encoding="utf-8"))
    change(doc)
    (folder / file).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder


def only_problem(folder: Path) -> Problem:
    problems = check(folder)
    assert len(problems) == 1, problems
    return problems[0]


# --- the bundled pack -------------------------------------------------------------------------


def test_bundled_pack_is_valid_and_has_one_file_per_section() -> None:
    assert check(None) == []
    assert sorted(p.name for p in PACK_DIR.glob("*.yaml")) == sorted(FILES.values())
    assert FILES["severities"] == "severities.yaml"


def test_settings(pack: Playbook) -> None:
    assert pack.settings.timezone == "UTC"
    assert pack.settings.incidents_channel == "#incident-response"
    assert pack.settings.channel_prefix == "incident"


def test_severities_encode_the_classification(pack: Playbook) -> None:
    assert list(pack.severities) == ["P0", "P1", "P2", "P3"]
    assert [s.key for s in pack.severities.values()] == ["P0", "P1", "P2", "P3"]
    assert [s.name for s in pack.severities.values()] == ["Critical", "High", "Medium", "Low"]
    assert [s.response_time for s in pack.severities.values()] == [15 * MIN, 30 * MIN, 120 * MIN, 480 * MIN]
    assert [s.update_every for s in pack.severities.values()] == [15 * MIN, 30 * MIN, 60 * MIN, None]
    assert [s.escalation_starts_at for s in pack.severities.values()] == [3, 2, 2, None]
    p0, p1, p2, p3 = pack.severities.values()
    assert p0.definition == "Complete platform outage or data breach"
    assert p0.examples == [
        "Platform completely down",
        "Data breach detected",
        "Payment system failure",
        "YouTube API banned",
    ]
    assert p1.examples[-1] == "SSL certificate expired"
    assert p3.definition == "Minor issues with minimal impact"
    assert p0.responders == ["@oncall", "@platform-ops-lead"]
    assert p1.responders == p2.responders == ["@oncall"]
    assert p3.responders == []
    assert p0.stakeholder_channels == p1.stakeholder_channels == ["#platform-ops", "#engineering", "#executive"]
    assert p2.stakeholder_channels == ["#platform-ops"]
    assert p3.stakeholder_channels == []
    assert pack.severity("p1").label == "P1 - High"


def test_escalation_matrix(pack: Playbook) -> None:
    assert [lvl.level for lvl in pack.escalation] == [1, 2, 3, 4]
    assert [lvl.after for lvl in pack.escalation] == [0 * MIN, 15 * MIN, 30 * MIN, 60 * MIN]
    assert [lvl.notify for lvl in pack.escalation] == [
        ["@oncall"],
        ["@platform-ops-lead", "@security", "@team-leads"],
        ["@cto", "@vp-ai", "@product"],
        ["@ceo", "@legal", "@pr"],
    ]
    assert "VP of AI (if AI-related)" in pack.escalation[2].description
    assert "Legal (if data breach)" in pack.escalation[3].description
    assert "PR (if public impact)" in pack.escalation[3].description
    p0_first = pack.next_level((pack.severity("P0").escalation_starts_at or 1) - 1)
    assert p0_first is not None and "@cto" in p0_first.notify  # "Immediate to CTO"
    assert pack.next_level(2) == pack.escalation[2]
    assert pack.next_level(4) is None


def test_roles(pack: Playbook) -> None:
    assert [(r.key, r.name) for r in pack.roles] == [
        ("incident_commander", "Incident Commander"),
        ("technical_lead", "Technical Lead"),
        ("communications_lead", "Communications Lead"),
        ("scribe", "Scribe"),
    ]
    ic = pack.roles[0]
    assert ic.aliases == ["ic", "commander"]
    assert ic.purpose == "Overall incident coordination"
    assert ic.responsibilities == [
        "Decision making authority",
        "Resource allocation",
        "External communication",
        "Status updates",
    ]
    assert ic.assigned == "Platform Ops Lead or delegate"
    assert pack.roles[3].assigned == "Available team member"
    for name, key in [
        ("IC", "incident_commander"),
        ("tech-lead", "technical_lead"),
        ("TL", "technical_lead"),
        ("Communications Lead", "communications_lead"),
        ("comms", "communications_lead"),
        ("scribe", "scribe"),
    ]:
        role = pack.role(name)
        assert role is not None and role.key == key, name
    assert pack.role("boss") is None


def test_phases_carry_the_seed_checklist(pack: Playbook) -> None:
    assert {p.key: [i.text for i in p.items] for p in pack.phases} == SEED_CHECKLIST
    assert list(SEED_CHECKLIST) == [p.key for p in pack.phases]  # in workflow order
    assert [p.target for p in pack.phases[:7]] == [
        "0-5 minutes",
        "5-10 minutes",
        "10-30 minutes",
        "30-60 minutes",
        "varies",
        "post-fix",
        "within 24 hours",
    ]
    due = [None if p.due_after is None else p.due_after // MIN for p in pack.phases]
    assert due == [5, 10, 30, 60, None, None, 24 * 60, None]
    item_keys = [i.key for p in pack.phases for i in p.items]
    assert len(item_keys) == len(set(item_keys)) == 3 + 4 * 6 + 3
    post = pack.phase("Post-mortem")
    assert post is not None and post.key == "postmortem"


@pytest.mark.parametrize("name", sorted(TEMPLATE_PLACEHOLDERS))
def test_templates_use_all_their_placeholders_and_render(pack: Playbook, name: str) -> None:
    text = getattr(pack.templates, name)
    assert set(Template(text).get_identifiers()) == TEMPLATE_PLACEHOLDERS[name]
    rendered = render(text, {n: f"<{n}>" for n in TEMPLATE_PLACEHOLDERS[name]})
    assert all(f"<{n}>" in rendered for n in TEMPLATE_PLACEHOLDERS[name])
    assert "$" not in rendered.replace("[$Amount]", "")


def test_message_templates_follow_the_seed(pack: Playbook) -> None:
    update = render(pack.templates.status_update, {"time": "14:05", "status": "Investigating"})
    assert update.startswith("*UPDATE 14:05*")
    assert "- Current Status: Investigating" in update
    for line in ("- Impact: $impact", "- Actions: $actions", "- ETA: $eta"):
        assert line in update  # left for the caller: safe_substitute doesn't raise
    initial = render(pack.templates.customer_initial, {"service": "Video generation"})
    assert initial.startswith("Subject: Video generation - Experiencing Issues")
    assert "We are currently experiencing issues with Video generation." in initial
    resolved = pack.templates.customer_resolution
    assert resolved.startswith("Subject: $service - Issue Resolved")
    assert "Duration: $start to $end" in resolved
    assert resolved.endswith("We apologize for any inconvenience.")


def test_postmortem_keeps_every_section_of_the_seed(pack: Playbook) -> None:
    text = pack.templates.postmortem
    headings = [line for line in text.splitlines() if line.startswith("#")]
    expected = [
        "# Incident Post-Mortem: $incident_id",
        "## Incident Summary",
        "## Timeline",
        "## Root Cause Analysis",
        "### What Happened",
        "### Why It Happened",
        "### How It Was Fixed",
        "## Impact Analysis",
        "## Lessons Learned",
        "### What Went Well",
        "### What Could Be Improved",
        "## Action Items",
        "## Prevention Measures",
    ]
    assert [h for h in headings if h in expected] == expected
    assert "## Action Items\n$action_items\n" in text  # the seed's table, rows from the follow-ups
    rendered = render(text, {n: f"<{n}>" for n in TEMPLATE_PLACEHOLDERS["postmortem"]})
    assert "- **Revenue Impact**: [$Amount]" in rendered
    assert "## Timeline\n<timeline>\n" in rendered
    assert "### What Happened\n<summary>\n" in rendered


# --- overrides --------------------------------------------------------------------------------


def test_override_replaces_one_file_and_keeps_the_rest(tmp_path: Path, pack: Playbook) -> None:
    write_override(tmp_path, "settings.yaml", lambda d: d.update(timezone="Europe/Berlin"))
    write_override(tmp_path, "severities.yaml", lambda d: d["P2"].update(update_every="2h"))
    (tmp_path / "README.md").write_text("not a pack file, and not YAML: ignored")
    custom = load_playbook(tmp_path)
    assert custom.settings.timezone == "Europe/Berlin"
    assert str(custom.settings.zone) == "Europe/Berlin"
    assert custom.severity("P2").update_every == timedelta(hours=2)
    assert custom.severity("P1") == pack.severity("P1")
    assert (custom.escalation, custom.roles, custom.phases, custom.templates) == (
        pack.escalation,
        pack.roles,
        pack.phases,
        pack.templates,
    )


def test_empty_override_file_means_defaults(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("# all defaults\n")
    assert load_playbook(tmp_path).settings.incidents_channel == "#incident-response"


def test_a_role_defined_by_an_override_can_be_targeted(tmp_path: Path) -> None:
    write_override(tmp_path, "escalation.yaml", lambda d: d[0]["notify"].append("role:incident_commander"))
    assert load_playbook(tmp_path).escalation[0].notify == ["@oncall", "role:incident_commander"]


# --- errors name the file and the key ---------------------------------------------------------


def test_bad_duration(tmp_path: Path) -> None:
    write_override(tmp_path, "severities.yaml", lambda d: d["P1"].update(update_every="soon"))
    problem = only_problem(tmp_path)
    assert problem == Problem(
        str(tmp_path / "severities.yaml"),
        "P1.update_every",
        "'soon' is not a duration; write it like 30s, 15m, 2h, 7d or 1h30m",
    )
    assert str(problem) == (
        f"{tmp_path / 'severities.yaml'}: P1.update_every: "
        "'soon' is not a duration; write it like 30s, 15m, 2h, 7d or 1h30m"
    )


def test_a_bare_number_is_not_a_duration(tmp_path: Path) -> None:
    write_override(tmp_path, "escalation.yaml", lambda d: d[1].update(after=15))
    problem = only_problem(tmp_path)
    assert (problem.key, problem.message) == (
        "[1].after",
        "15 is not a duration; write it like 30s, 15m, 2h, 7d or 1h30m",
    )


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    write_override(tmp_path, "severities.yaml", lambda d: d["P0"].update(respose_time="5m"))
    problem = only_problem(tmp_path)
    assert problem.file.endswith("severities.yaml")
    assert problem.key == "P0.respose_time"
    assert problem.message.startswith("unknown key; did you mean 'response_time'?")


def test_unknown_key_in_a_checklist_item_names_phase_and_item(tmp_path: Path) -> None:
    write_override(tmp_path, "phases.yaml", lambda d: d[2]["items"][1].update(txt="typo"))
    problem = only_problem(tmp_path)
    assert (problem.key, problem.message[:36]) == ("contain.items.isolate.txt", "unknown key; did you mean 'text'? kn")


def test_unknown_key_inside_a_tuple_or_an_optional_section_names_the_known_keys(tmp_path: Path) -> None:
    write_override(tmp_path, "rollback.yaml", lambda d: (d["images"][0].update(force=True),
                                                          d["env_file"].update(targt="/x")))
    problems = {p.key: p.message for p in check(tmp_path)}
    assert problems["images[0].force"] == "unknown key; known keys are image, as"
    assert problems["env_file.targt"] == "unknown key; did you mean 'target'? known keys are source, target"


def test_missing_severity(tmp_path: Path) -> None:
    write_override(tmp_path, "severities.yaml", lambda d: d.pop("P2"))
    problem = only_problem(tmp_path)
    assert problem.file.endswith("severities.yaml")
    assert problem.key == "P2"
    assert problem.message.startswith("missing")


def test_unknown_severity(tmp_path: Path) -> None:
    write_override(tmp_path, "severities.yaml", lambda d: d.update(P4=d["P3"]))
    assert only_problem(tmp_path).key == "P4"


def test_severity_key_must_match_its_entry(tmp_path: Path) -> None:
    write_override(tmp_path, "severities.yaml", lambda d: d["P1"].update(key="P2"))
    assert only_problem(tmp_path).key == "P1.key"


def test_reference_to_unknown_role(tmp_path: Path) -> None:
    write_override(tmp_path, "escalation.yaml", lambda d: d[1]["notify"].append("role:boss"))
    problem = only_problem(tmp_path)
    assert problem.file.endswith("escalation.yaml")
    assert problem.key == "[1].notify[3]"
    assert problem.message == (
        "unknown role 'role:boss'; roles are communications_lead, incident_commander, scribe, technical_lead"
    )


def test_escalation_start_must_be_a_level(tmp_path: Path) -> None:
    write_override(tmp_path, "escalation.yaml", lambda d: d.pop())
    write_override(tmp_path, "severities.yaml", lambda d: d["P1"].update(escalation_starts_at=4))
    problem = only_problem(tmp_path)
    assert problem.file.endswith("severities.yaml")
    assert (problem.key, problem.message) == ("P1.escalation_starts_at", "no escalation level 4; levels are 1, 2, 3")


def test_cross_check_blames_the_bundled_file_by_name(tmp_path: Path) -> None:
    write_override(tmp_path, "escalation.yaml", lambda d: d.__delitem__(slice(2, None)))  # levels 1, 2
    assert only_problem(tmp_path) == Problem(
        "severities.yaml", "P0.escalation_starts_at", "no escalation level 3; levels are 1, 2"
    )


def test_escalation_levels_must_ascend(tmp_path: Path) -> None:
    write_override(tmp_path, "escalation.yaml", lambda d: d.reverse())
    keys = [p.key for p in check(tmp_path)]
    assert keys == ["[1].level", "[1].after", "[2].level", "[2].after", "[3].level", "[3].after"]


def test_duplicate_names_are_errors(tmp_path: Path) -> None:
    write_override(tmp_path, "roles.yaml", lambda d: d[3].update(aliases=["ic"]))
    write_override(tmp_path, "phases.yaml", lambda d: d[1]["items"][0].update(key="acknowledge"))
    problems = check(tmp_path)
    assert [(Path(p.file).name, p.key) for p in problems] == [
        ("roles.yaml", "scribe.aliases[0]"),
        ("phases.yaml", "classify.items.acknowledge.key"),
    ]
    assert problems[0].message == "'ic' is already used by role 'incident_commander'; names must be unique"


def test_unknown_template_placeholder(tmp_path: Path) -> None:
    write_override(tmp_path, "templates.yaml", lambda d: d.update(status_update=d["status_update"] + "\nOwner: $owner"))
    problem = only_problem(tmp_path)
    assert problem.file.endswith("templates.yaml")
    assert problem.key == "status_update"
    assert problem.message.startswith("template line 7: unknown placeholder $owner; status_update can use $actions, ")


def test_lone_dollar_in_template(tmp_path: Path) -> None:
    write_override(tmp_path, "templates.yaml", lambda d: d.update(customer_resolution="Refund: 5$ each"))
    problem = only_problem(tmp_path)
    assert problem.key == "customer_resolution"
    assert "'$' is not followed by a name (write $$ for a dollar sign)" in problem.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "roles.yaml").write_text("- key: scribe\n  name: Scribe\n   purpose: oops\n")
    problem = only_problem(tmp_path)
    assert problem.file == str(tmp_path / "roles.yaml")
    assert problem.key == ""
    assert problem.message.startswith("line 3, column ")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    bundled = (PACK_DIR / "severities.yaml").read_text()
    (tmp_path / "severities.yaml").write_text(bundled + "P1:\n  name: again\n")
    problem = only_problem(tmp_path)
    line = len(bundled.splitlines()) + 1
    assert problem.message == f"line {line}, column 1: 'P1' is written twice in this mapping"


def test_bad_time_zone(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("timezone: Mars/Olympus_Mons\n")
    problem = only_problem(tmp_path)
    assert (problem.key, problem.message) == (
        "timezone",
        "unknown time zone 'Mars/Olympus_Mons'; use an IANA name like Europe/Berlin",
    )


def test_bad_target(tmp_path: Path) -> None:
    write_override(tmp_path, "severities.yaml", lambda d: d["P0"]["responders"].append("cto"))
    problem = only_problem(tmp_path)
    assert problem.key == "P0.responders[2]"
    assert problem.message.startswith("'cto' is not a target; use a Slack user ID")


def test_bad_channel(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("incidents_channel: incident-response\n")
    assert only_problem(tmp_path).key == "incidents_channel"


def test_unknown_override_file_name(tmp_path: Path) -> None:
    (tmp_path / "severity.yaml").write_text("P0: {}\n")
    problem = only_problem(tmp_path)
    assert problem.file == str(tmp_path / "severity.yaml")
    assert problem.message.startswith("not a pack file; the pack's files are ")
    assert "severities.yaml" in problem.message and "escalation.yaml" in problem.message
    assert problem.message == (
        "not a pack file; the pack's files are " + ", ".join(sorted(FILES.values()))
    )


def test_yml_suffix_is_flagged_not_ignored(tmp_path: Path) -> None:
    (tmp_path / "settings.yml").write_text("timezone: UTC\n")
    assert only_problem(tmp_path).file == str(tmp_path / "settings.yml")


def test_missing_override_dir(tmp_path: Path) -> None:
    assert only_problem(tmp_path / "nope") == Problem(
        str(tmp_path / "nope"), "", "no such folder; playbook overrides are a folder of pack files"
    )


def test_override_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text("")
    assert only_problem(tmp_path / "pack.yaml").message.startswith("not a folder")


@pytest.mark.parametrize(
    ("file", "text", "wanted"),
    [
        ("settings.yaml", "- timezone: UTC\n", "a mapping"),
        ("roles.yaml", "scribe: {}\n", "a list"),
        ("templates.yaml", "just text\n", "a mapping"),
    ],
)
def test_document_of_the_wrong_shape(tmp_path: Path, file: str, text: str, wanted: str) -> None:
    (tmp_path / file).write_text(text)
    problem = only_problem(tmp_path)
    assert problem.key == ""
    assert problem.message.startswith(f"the document should be {wanted}")


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "phases.yaml").write_bytes(b"\xff\xfe\x00bad")
    problem = only_problem(tmp_path)
    assert problem.message.startswith("not UTF-8 text")
    (tmp_path / "phases.yaml").unlink()
    (tmp_path / "phases.yaml").mkdir()
    assert only_problem(tmp_path).message.startswith("cannot read the file")


def test_problems_are_collected_across_files(tmp_path: Path) -> None:
    (tmp_path / "roles.yaml").write_text("- [unclosed\n")
    (tmp_path / "settings.yaml").write_text("timezone: Nowhere\n")
    write_override(tmp_path, "severities.yaml", lambda d: d["P3"].update(response_time="eventually"))
    (tmp_path / "extra.yaml").write_text("")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path)
    files = [Path(p.file).name for p in caught.value.problems]
    assert files == ["extra.yaml", "roles.yaml", "settings.yaml", "severities.yaml"]  # no "roles: missing"
    assert str(caught.value).startswith("the playbook pack has 4 problem(s):\n  ")
    assert check(tmp_path) == caught.value.problems
