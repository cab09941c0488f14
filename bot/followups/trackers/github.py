"""GitHub Issues through the REST API (docs.github.com/rest/issues/issues): create an issue, read
one, close it (``state: closed``, ``state_reason: completed``), and list the repository's issues
with the follow-up label to find one whose creation was not confirmed. A closed issue is a done
follow-up."""

from __future__ import annotations

import urllib.parse
from typing import Any

from bot.followups.trackers.base import NewIssue, TrackerIssue, TrackerRejected, request
from playbooks.record import GitHubTracker

API_VERSION = "2022-11-28"


class GitHubIssues:
    name = "github"

    def __init__(self, config: GitHubTracker, token: str) -> None:
        self._base = f"{config.api_url.rstrip('/')}/repos/{config.repository}/issues"
        self._labels = list(config.labels)
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                         "X-GitHub-Api-Version": API_VERSION}

    def create(self, issue: NewIssue) -> TrackerIssue:
        body = f"{issue.body}\n\nDue: {issue.due_on}\n\n<!-- {issue.marker} -->"
        return _issue(request("POST", self._base, self._headers,
                              {"title": issue.title, "body": body, "labels": self._labels}))

    def find(self, marker: str) -> TrackerIssue | None:
        query = urllib.parse.urlencode({"labels": ",".join(self._labels), "state": "all", "per_page": 100,
                                        "sort": "created", "direction": "desc"})
        found = request("GET", f"{self._base}?{query}", self._headers) or []
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict) and "pull_request" not in item and f"<!-- {marker} -->" in str(item.get("body")):
                return _issue(item)
        return None

    def get(self, key: str) -> TrackerIssue:
        return _issue(request("GET", f"{self._base}/{int(key)}", self._headers))

    def close(self, key: str) -> TrackerIssue:
        return _issue(request("PATCH", f"{self._base}/{int(key)}", self._headers,
                              {"state": "closed", "state_reason": "completed"}))


def _issue(data: Any) -> TrackerIssue:
    if not isinstance(data, dict) or not isinstance(data.get("number"), int):
        raise TrackerRejected("GitHub answered without an issue")
    return TrackerIssue(key=str(data["number"]), url=str(data.get("html_url") or ""),
                        done=data.get("state") == "closed")
