"""The objects a Slack workspace is made of, and how each one looks in a Web API response.

The `to_slack` methods produce Slack's documented JSON shapes, so the bot parses sandbox answers
with the same code it uses against slack.com. Plain dataclasses: the workspace owns the locking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Identity:
    """Who the sandbox workspace and its one installed app are; defaults are the documented sandbox values."""

    team_id: str = "T0SANDBOX"
    team_domain: str = "sandbox"
    team_name: str = "Sandbox"
    bot_user_id: str = "U0OPSBOT"
    bot_name: str = "opsbot"
    bot_id: str = "B0OPSBOT"
    app_id: str = "A0OPSBOT"
    token: str = "xoxb-sandbox-token"
    app_token: str = "xapp-1-A0OPSBOT-sandbox"  # app-level token, for Socket Mode
    signing_secret: str = "sandbox-signing-secret"
    verification_token: str = "sandbox-verification-token"


@dataclass
class User:
    id: str
    name: str
    real_name: str
    is_bot: bool = False
    bot_id: str | None = None

    @property
    def email(self) -> str:
        return f"{self.name}@sandbox.test"

    def to_slack(self, team_id: str) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "title": "" if self.is_bot else self.real_name,
            "team": team_id,
        }
        if self.is_bot:
            profile["bot_id"] = self.bot_id
        else:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1732800000,
        }


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    users: list[str]
    created_by: str = ""

    def to_slack(self, team_id: str, *, include_users: bool) -> dict[str, Any]:
        group: dict[str, Any] = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": self.name,
            "description": "",
            "handle": self.handle,
            "is_external": False,
            "date_create": 1732800000,
            "date_update": 1732800000,
            "date_delete": 0,
            "auto_type": None,
            "created_by": self.created_by,
            "updated_by": self.created_by,
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
            "user_count": len(self.users),
            "channel_count": 0,
        }
        if include_users:
            group["users"] = list(self.users)
        return group


@dataclass
class Message:
    ts: str
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    edited: bool = False
    bot_id: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_slack(self, team_id: str, app_id: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
            "team": team_id,
            "blocks": self.blocks,
        }
        if self.bot_id:
            message["bot_id"] = self.bot_id
            message["app_id"] = app_id
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.edited:
            message["edited"] = {"user": self.user, "ts": self.ts}
        if self.files:
            message["files"] = list(self.files)
        if self.reactions:
            message["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)} for name, users in self.reactions.items()
            ]
        return message


@dataclass
class Bookmark:
    id: str
    channel_id: str
    title: str
    link: str
    emoji: str
    created: int

    def to_slack(self, bot_user_id: str, team_id: str, app_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "title": self.title,
            "link": self.link,
            "emoji": self.emoji,
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": self.created,
            "date_updated": 0,
            "rank": "U",
            "last_updated_by_user_id": bot_user_id,
            "last_updated_by_team_id": team_id,
            "shortcut_id": None,
            "app_id": app_id,
        }


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    is_im: bool
    topic: str
    members: set[str]
    messages: list[Message]
    pins: list[str]
    bookmarks: list[Bookmark]
    created: int
    creator: str = ""
    im_user: str | None = None

    def to_slack(self, bot_user_id: str, *, include_num_members: bool = False) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "is_open": True,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        channel: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": False,
            "is_general": self.name == "general",
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "is_member": bot_user_id in self.members,
            "topic": {"value": self.topic, "creator": self.creator if self.topic else "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
        if include_num_members:
            channel["num_members"] = len(self.members)
        return channel


@dataclass
class View:
    id: str
    user: str
    trigger_id: str | None
    view: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    closed: bool = False

    @property
    def type(self) -> str:
        return str(self.view.get("type", "modal"))

    def to_slack(self, team_id: str, app_id: str, bot_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": team_id,
            "type": self.type,
            "blocks": self.view.get("blocks", []),
            "private_metadata": self.view.get("private_metadata", ""),
            "callback_id": self.view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "title": self.view.get("title"),
            "clear_on_close": bool(self.view.get("clear_on_close", False)),
            "notify_on_close": bool(self.view.get("notify_on_close", False)),
            "close": self.view.get("close"),
            "submit": self.view.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": app_id,
            "external_id": self.view.get("external_id", ""),
            "app_installed_team_id": team_id,
            "bot_id": bot_id,
        }


@dataclass
class Ephemeral:
    """A message only `user` sees; `via` says how it arrived ("chat.postEphemeral", "response_url", "ack")."""

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    via: str
    ts: str
    thread_ts: str | None = None

    def to_slack(self) -> dict[str, Any]:
        return {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks}


@dataclass
class Call:
    """One Web API request as it reached the sandbox (faulted ones included), for counting and asserting."""

    method: str
    args: dict[str, Any]
    at: float


@dataclass
class CanvasSection:
    """One block of a canvas as ``canvases.sections.lookup`` finds it: a heading, a paragraph, a list
    item or a table, with the Markdown it was written in."""

    id: str
    kind: str  # h1 | h2 | h3 | paragraph | list_item | checklist_item | table | quote | code
    markdown: str

    @property
    def text(self) -> str:
        return self.markdown.lstrip("#>-*[]xX0123456789. ").strip()


@dataclass
class Canvas:
    id: str
    title: str
    channel_id: str | None
    sections: list[CanvasSection]
    created_by: str
    edits: int = 0

    @property
    def markdown(self) -> str:
        return "\n".join(s.markdown for s in self.sections)


_TYPES = ((".md", "text/markdown", "markdown"), (".png", "image/png", "png"))


@dataclass
class File:
    """An external upload: announced by ``files.getUploadURLExternal``, its bytes POSTed to the
    upload URL, then shared by ``files.completeUploadExternal``."""

    id: str
    filename: str
    length: int
    title: str = ""
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)

    def to_slack(self, user: str) -> dict[str, Any]:
        mimetype, filetype = next(((m, f) for ext, m, f in _TYPES if self.filename.endswith(ext)),
                                  ("text/plain", "text"))
        return {"id": self.id, "name": self.filename, "title": self.title or self.filename,
                "mimetype": mimetype, "filetype": filetype, "size": self.length,
                "user": user, "channels": list(self.channels)}
