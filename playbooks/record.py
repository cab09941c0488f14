"""``record.yaml``: the incident record beyond what commands type — which reactions put a channel
message on the timeline, whether the post-mortem draft is a channel canvas, and follow-ups: when
their owners are reminded and which issue tracker (GitHub Issues or Jira Cloud) keeps them too.

Tracker credentials never live in the YAML (docs/architecture.md, "Secrets stay secret"): the
tracker names the environment variables that hold them.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from playbooks.common import PackModel, TimeOfDay
from playbooks.durations import Duration

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_EMOJI = re.compile(r"[a-z0-9_+'-]{1,100}")


def _emoji(value: str) -> str:
    name = value.strip(":")
    if not _EMOJI.fullmatch(name):
        raise ValueError(f"{value!r} is not an emoji name; write it as Slack names it, like pushpin or :pushpin:")
    return name


EmojiName = Annotated[str, AfterValidator(_emoji)]


class TimelineSettings(PackModel):
    emoji: tuple[EmojiName, ...] = ("pushpin",)
    """Reacting with any of these to a message in an incident channel puts it on the timeline."""

    @field_validator("emoji")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one emoji, like [pushpin]")
        return value


class PostmortemSettings(PackModel):
    canvas: bool = True
    """The draft is the incident channel's canvas where the workspace has canvases; with ``false``
    (or where it has none) it is a Markdown file uploaded to the channel."""


class GitHubTracker(PackModel):
    """GitHub Issues (REST API): each follow-up is an issue; closing it marks the follow-up done."""

    kind: Literal["github"]
    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    token_env: str = Field("OPSBOT_GITHUB_TOKEN", pattern=_ENV_NAME)
    api_url: str = Field("https://api.github.com", pattern=r"^https?://")
    labels: tuple[str, ...] = ("incident-follow-up",)


class JiraTracker(PackModel):
    """Jira Cloud (REST API v3): each follow-up is an issue; one whose status is in the Done category
    marks the follow-up done, and a follow-up done here moves it through a transition to Done."""

    kind: Literal["jira"]
    site: str = Field(pattern=r"^https?://")
    """``https://your-domain.atlassian.net``"""
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    issue_type: str = Field("Task", min_length=1)
    email_env: str = Field("OPSBOT_JIRA_EMAIL", pattern=_ENV_NAME)
    token_env: str = Field("OPSBOT_JIRA_TOKEN", pattern=_ENV_NAME)
    labels: tuple[str, ...] = ("incident-follow-up",)

    @field_validator("labels")
    @classmethod
    def _no_spaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [label for label in value if not label or any(c.isspace() for c in label)]
        if bad:
            raise ValueError(f"{bad[0]!r}: Jira labels cannot contain spaces")
        return value


Tracker = Annotated[GitHubTracker | JiraTracker, Field(discriminator="kind")]


class FollowUpSettings(PackModel):
    remind_at: TimeOfDay = "09:00"
    """Local time (``settings.yaml`` time zone) of the owner's direct message on the due date; the
    overdue message follows at the same time the day after, if the follow-up is still open."""
    tracker: Tracker | None = None
    sync_every: Duration = timedelta(minutes=5)
    """How often open follow-ups are read back from the tracker (a closed issue marks one done)."""

    @property
    def remind_time(self) -> time:
        hour, minute = (int(part) for part in self.remind_at.split(":"))
        return time(hour, minute)


class RecordSettings(PackModel):
    """The whole of ``record.yaml``; every key has a default, so the file may be left out."""

    timeline: TimelineSettings = TimelineSettings()
    postmortem: PostmortemSettings = PostmortemSettings()
    followups: FollowUpSettings = FollowUpSettings()
