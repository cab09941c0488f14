"""manifest.yaml: the Slack app manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.kind("unit")

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yaml"

REQUIRED_BOT_SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:manage",
    "channels:read",
    "channels:join",
    "groups:write",
    "groups:read",
    "users:read",
    "usergroups:read",
    "pins:write",
    "bookmarks:write",
    "im:write",
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def _command(manifest: dict, name: str) -> dict:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert name in commands, f"{name} is not declared in manifest.yaml"
    return commands[name]


def test_incident_command_escapes_mentions(manifest: dict) -> None:
    incident = _command(manifest, "/incident")
    assert incident["should_escape"] is True
    assert incident["url"].endswith("/slack/events")
    assert incident["description"] and incident["usage_hint"]


def test_every_slash_command_escapes(manifest: dict) -> None:
    for command in manifest["features"]["slash_commands"]:
        assert command["should_escape"] is True, command["command"]


def test_required_bot_scopes(manifest: dict) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    missing = REQUIRED_BOT_SCOPES - set(scopes)
    assert not missing, f"missing bot scopes: {sorted(missing)}"
    assert len(scopes) == len(set(scopes)), "duplicate scopes"


def test_bot_user_home_and_events(manifest: dict) -> None:
    assert manifest["display_information"]["name"] == "opsbot"
    assert manifest["features"]["bot_user"] == {"display_name": "opsbot", "always_online": True}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["socket_mode_enabled"] is False
