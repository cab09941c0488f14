"""Issue trackers that keep follow-ups too (``record.yaml: followups.tracker``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import structlog

from bot.followups.trackers.base import Tracker
from bot.followups.trackers.github import GitHubIssues
from bot.followups.trackers.jira import JiraIssues
from playbooks.record import FollowUpSettings, GitHubTracker

log = structlog.get_logger(__name__)


def from_pack(settings: FollowUpSettings, env: Mapping[str, str] | None = None) -> Tracker | None:
    """The configured tracker with its credentials from the environment; None when there is none,
    or its credentials are missing (then follow-ups wait for it, and the log says which variable)."""
    env = os.environ if env is None else env
    config = settings.tracker
    if config is None:
        return None
    if isinstance(config, GitHubTracker):
        token = env.get(config.token_env)
        if token:
            return GitHubIssues(config, token)
        missing = config.token_env
    else:
        email, token = env.get(config.email_env), env.get(config.token_env)
        if email and token:
            return JiraIssues(config, email, token)
        missing = config.email_env if not email else config.token_env
    log.warning("tracker_disabled", tracker=config.kind, reason=f"no {missing} in the environment")
    return None
