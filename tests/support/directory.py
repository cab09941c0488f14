"""A user directory (bot/slack/directory.py) with fixed user groups, for tests without Slack."""

from __future__ import annotations

from collections.abc import Mapping

from bot.slack.gateway import UserGroup


class StaticDirectory:
    def __init__(self, groups: Mapping[str, set[str]] | None = None) -> None:
        self._groups = {handle.lstrip("@"): frozenset(users) for handle, users in (groups or {}).items()}

    def user_group(self, handle: str) -> UserGroup | None:
        users = self._groups.get(handle.lstrip("@"))
        return UserGroup(f"S{handle.lstrip('@').upper()}", handle.lstrip("@"), tuple(sorted(users))) if users else None

    def group_members(self, handle: str) -> frozenset[str]:
        return self._groups.get(handle.lstrip("@"), frozenset())
