"""`/incident` text parsing: examples, and any text yields a command or a clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.incidents import commands as cmd
from playbooks.loader import load_playbook

pytestmark = pytest.mark.kind("unit")


def test_declare_parses_severity_case_insensitively_and_squashes_spaces() -> None:
    assert cmd.parse("declare p1   Checkout   is failing") == cmd.Declare("P1", "Checkout is failing")


def test_bare_command_and_bare_declare_open_the_modal() -> None:
    assert cmd.parse("") == cmd.OpenDeclareModal()
    assert cmd.parse("  declare ") == cmd.OpenDeclareModal()


def test_unknown_severity_says_how_to_write_it() -> None:
    result = cmd.parse("declare P9 x")
    assert isinstance(result, cmd.ParseError)
    assert "P9" in result.message and "P0, P1, P2 or P3" in result.message


def test_declare_without_title_is_an_error() -> None:
    assert isinstance(cmd.parse("declare P2"), cmd.ParseError)


def test_assign_takes_escaped_mentions_and_multiword_roles() -> None:
    assert cmd.parse("assign incident commander <@U0ALICE|alice>") == cmd.Assign("incident commander", "U0ALICE")
    assert cmd.parse("assign <@U0BOB> scribe") == cmd.Assign("scribe", "U0BOB")


def test_assign_rejects_plain_text_names() -> None:
    result = cmd.parse("assign commander @alice")
    assert isinstance(result, cmd.ParseError) and "mention" in result.message


def test_every_role_name_the_readme_and_the_help_show_is_a_role() -> None:
    """The names people read are the names they type: each must find its role in the bundled pack."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    [row] = [line for line in readme.splitlines() if line.startswith("| `/incident assign")]
    shown = re.split(r",\s*|\s*[()]\s*", row.split("roles:")[1].split("|")[0])
    [help_line] = [line for line in cmd.USAGE.splitlines() if "assign <role>" in line]
    shown += help_line.split("roles are")[1].split(",")
    names = {name.strip() for name in shown if name.strip()}
    assert {"commander", "ic", "tech lead", "comms lead", "cl", "scribe"} <= names
    playbook = load_playbook()
    assert [name for name in sorted(names) if playbook.role(name) is None] == []
    parsed = cmd.parse("assign comms lead <@U0ALICE|alice>")
    assert isinstance(parsed, cmd.Assign) and playbook.role(parsed.role).key == "communications_lead"


def test_update_fields_from_key_value_text() -> None:
    parsed = cmd.parse("update status: Mitigating; impact: 20% of logins; actions: failing over; eta: 30m")
    assert parsed == cmd.PostUpdate(cmd.UpdateFields("Mitigating", "20% of logins", "failing over", "30m"))
    assert cmd.parse("update Restarted pods") == cmd.PostUpdate(cmd.UpdateFields(actions="Restarted pods"))
    assert cmd.parse("update") == cmd.OpenUpdateModal()


def test_other_verbs() -> None:
    assert cmd.parse("severity p0") == cmd.ChangeSeverity("P0")
    assert isinstance(cmd.parse("severity P7"), cmd.ParseError)
    assert cmd.parse("note Restarted the API") == cmd.Note("Restarted the API")
    assert isinstance(cmd.parse("note"), cmd.ParseError)
    assert cmd.parse("phase Contain") == cmd.SetPhase("Contain")
    assert cmd.parse("resolve Rolled back") == cmd.Resolve("Rolled back")
    assert isinstance(cmd.parse("resolve"), cmd.ParseError)
    for text, kind in [("ack", cmd.Acknowledge), ("status", cmd.Status), ("list", cmd.ListIncidents),
                       ("help", cmd.Help), ("postmortem", cmd.DraftPostmortem)]:
        assert isinstance(cmd.parse(text), kind)
    assert isinstance(cmd.parse("frobnicate now"), cmd.ParseError)


@given(st.text(max_size=400))
def test_any_text_yields_a_command_or_a_clear_error(text: str) -> None:
    result = cmd.parse(text)
    if isinstance(result, cmd.ParseError):
        assert result.message.strip()
    else:
        assert isinstance(result, cmd.Command.__args__)  # type: ignore[attr-defined]


@given(st.sampled_from(["declare", "assign", "update", "severity", "note", "phase", "resolve"]),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_arguments_to_known_verbs_parse_or_explain(verb: str, rest: str) -> None:
    result = cmd.parse(f"{verb} {rest}")
    assert isinstance(result, (cmd.ParseError, *cmd.Command.__args__))  # type: ignore[attr-defined]
    if isinstance(result, cmd.Declare):
        assert result.severity in ("P0", "P1", "P2", "P3") and 0 < len(result.title) <= cmd.MAX_TITLE
    if isinstance(result, cmd.Assign):
        assert result.user_id[0] in "UW" and result.role
