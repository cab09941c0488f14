"""Who is in which Slack user group: the one directory every domain asks.

Two questions, answered differently on purpose: ``user_group`` (whom to mention, invite or page)
may be a few minutes old, while ``group_members`` (may this person approve?) is read from Slack
at the moment of the check, so someone removed from a group a minute ago can no longer act."""

from __future__ import annotations

from typing import Protocol

from bot.slack.gateway import SlackGateway, UserGroup


class Directory(Protocol):
    def user_group(self, handle: str) -> UserGroup | None:
        """The group (``@handle``) with its members, from a short-lived cache; None if there is none."""
        ...

    def group_members(self, handle: str) -> frozenset[str]:
        """Current members of a user group (``@handle``), read live; empty when there is no such group."""
        ...


class SlackDirectory:
    def __init__(self, gateway: SlackGateway) -> None:
        self._gateway = gateway

    def user_group(self, handle: str) -> UserGroup | None:
        return self._gateway.user_group(handle)

    def group_members(self, handle: str) -> frozenset[str]:
        group = self._gateway.user_group(handle, live=True)
        return frozenset(group.users) if group else frozenset()
