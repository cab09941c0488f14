"""manifest.yaml, the Slack app manifest: the scopes it requests are exactly those of the Web API
methods the code calls (read from the source, directly and through the outbox and gateway), and
every event it subscribes to reaches a listener of the running bot."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("unit")

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yaml"
SOURCES = ("bot", "handlers", "storage", "playbooks")
NOT_THE_BOT = (ROOT / "bot" / "sandbox",)  # the sandbox implements Slack's side of these methods

# Bot-token scopes of each Web API method, from its page in Slack's method reference
# (docs.slack.dev/reference/methods/<method>), for the conversation types the bot uses: incident
# channels are public; the channels the playbook names may be private ones the bot was added to.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "views.open": frozenset(),
    "views.publish": frozenset(),  # the Home tab
    # chat:write.public: the bot posts in public channels it was never added to rather than joining them
    "chat.postMessage": frozenset({"chat:write", "chat:write.public"}),
    "chat.update": frozenset({"chat:write"}),
    "conversations.create": frozenset({"channels:manage"}),
    "conversations.invite": frozenset({"channels:manage"}),
    "conversations.setTopic": frozenset({"channels:manage"}),
    "conversations.list": frozenset({"channels:read", "groups:read"}),  # types=public_channel,private_channel
    "pins.add": frozenset({"pins:write"}),
    "usergroups.list": frozenset({"usergroups:read"}),
    "usergroups.users.update": frozenset({"usergroups:write"}),
    "chat.getPermalink": frozenset(),
    # history of the public incident channels, and of private channels the bot was added to
    "conversations.replies": frozenset({"channels:history", "groups:history"}),
    "conversations.canvases.create": frozenset({"canvases:write"}),
    "canvases.edit": frozenset({"canvases:write"}),
    "canvases.sections.lookup": frozenset({"canvases:read"}),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "conversations.join": frozenset({"channels:join"}),  # the reports channel, where the digest's chart is shared
}
SDK_HELPERS: dict[str, tuple[str, ...]] = {
    "files.upload.v2": ("files.getUploadURLExternal", "files.completeUploadExternal"),  # client.files_upload_v2
}
"""slack_sdk methods that are not one Web API method but make several."""
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "message.channels": frozenset({"channels:history"}), "message.groups": frozenset({"groups:history"}),
    "reaction_added": frozenset({"reactions:read"}), "reaction_removed": frozenset({"reactions:read"}),
    "app_home_opened": frozenset(),
}
_FAMILIES = ("admin", "apps", "auth", "bookmarks", "bots", "canvases", "chat", "conversations", "dnd", "emoji", "files",
             "pins", "reactions", "reminders", "search", "stars", "team", "usergroups", "users", "views")
_METHOD = re.compile(rf"^(?:{'|'.join(_FAMILIES)})\.[a-zA-Z]+(?:\.[a-zA-Z]+)*$")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def methods_called() -> dict[str, list[str]]:
    """Web API method -> where the bot names it: a string literal (``gateway.call("pins.add")``,
    ``outbox.enqueue(…, "chat.update")``) or a slack_sdk client method (``client.views_open(…)``)."""
    found: dict[str, list[str]] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if any(path.is_relative_to(skip) for skip in NOT_THE_BOT):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                method = None
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _METHOD.match(node.value):
                    method = node.value
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name | ast.Attribute) \
                        and _receiver(node.value).endswith("client") and node.attr.split("_")[0] in _FAMILIES:
                    method = node.attr.replace("_", ".")
                for each in SDK_HELPERS.get(method or "", (method,) if method else ()):
                    found.setdefault(each, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _receiver(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def test_the_scan_finds_calls_of_each_kind() -> None:
    called = methods_called()
    assert "chat.postMessage" in called      # outbox.post
    assert "conversations.invite" in called  # outbox.enqueue by name
    assert "usergroups.list" in called       # the gateway
    assert any("handlers/" in where for where in called["views.open"])  # Bolt's client.views_open(…)
    assert "files.completeUploadExternal" in called and "files.upload.v2" not in called  # files_upload_v2


def test_scopes_requested_are_exactly_those_used(manifest: dict) -> None:
    called = methods_called()
    unknown = {m: where for m, where in called.items() if m not in METHOD_SCOPES}
    assert not unknown, f"add these methods' scopes to METHOD_SCOPES from Slack's method reference: {unknown}"
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    needed = {"commands"} if manifest["features"]["slash_commands"] else set()
    needed |= {scope for method in called for scope in METHOD_SCOPES[method]}
    needed |= {scope for event in events for scope in EVENT_SCOPES.get(event, frozenset())}
    requested = manifest["oauth_config"]["scopes"]["bot"]
    assert len(requested) == len(set(requested)), "duplicate scopes"
    assert sorted(set(requested) - needed) == [], "requested but not used"
    assert sorted(needed - set(requested)) == [], "used but not requested"


def test_every_slash_command_escapes_and_reaches_the_bot(manifest: dict) -> None:
    for command in manifest["features"]["slash_commands"]:
        assert command["should_escape"] is True, command["command"]  # mentions arrive as <@U…|name>
        assert command["url"].endswith("/slack/events") and command["description"] and command["usage_hint"]


def test_every_shortcut_has_a_listener(manifest: dict) -> None:
    from bot.timeline import views

    shortcuts = manifest["features"]["shortcuts"]
    assert [(s["type"], s["callback_id"]) for s in shortcuts] == [("message", views.SHORTCUT)]
    assert all(len(s["name"]) <= 24 and s["description"] for s in shortcuts)


def test_the_home_tab_is_on_and_its_opening_subscribed(manifest: dict) -> None:
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True, "escalation direct messages land in the Messages tab"
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert manifest["settings"]["socket_mode_enabled"] is False


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock()) as running:
        yield running


EXAMPLES = {  # one delivery of each event type, as the Events API sends it
    "message.channels": {"type": "message", "channel": "C0ALERTS", "channel_type": "channel", "user": "U0ALICE",
                         "text": "disk full on db-1", "ts": "1732800000.000100"},
    "message.groups": {"type": "message", "channel": "G0PRIVATE", "channel_type": "group", "user": "U0ALICE",
                       "text": "in a private channel", "ts": "1732800000.000200"},
    "reaction_added": {"type": "reaction_added", "user": "U0ALICE", "reaction": "pushpin", "item_user": "U0BOB",
                       "item": {"type": "message", "channel": "C0GENERAL", "ts": "1732800000.000100"}},
    "reaction_removed": {"type": "reaction_removed", "user": "U0ALICE", "reaction": "pushpin", "item_user": "U0BOB",
                         "item": {"type": "message", "channel": "C0GENERAL", "ts": "1732800000.000100"}},
    "app_home_opened": {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home"},
}
NOT_SUBSCRIBED = {"type": "member_joined_channel", "user": "U0ALICE", "channel": "C0GENERAL", "channel_type": "C"}


@pytest.mark.kind("e2e")
def test_every_subscribed_event_reaches_a_listener(manifest: dict, bot: BotUnderTest) -> None:
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(subscribed) <= set(EXAMPLES), "add an example delivery of the new event to EXAMPLES"
    for event in subscribed:
        response = bot.slack.post_event(EXAMPLES[event])
        assert response.status == 200, f"{event}: HTTP {response.status} {response.body}"
    # Without a listener Bolt answers 404: the check above would see an unhandled subscription.
    assert bot.slack.post_event(NOT_SUBSCRIBED).status == 404
