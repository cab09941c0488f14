"""Jira Cloud through the REST API v3 (developer.atlassian.com/cloud/jira/platform/rest/v3): create
an issue, read its status, move it through a transition whose target status is in the Done
category, and search by JQL for the follow-up's marker label. An issue whose status category is
``done`` is a done follow-up. Authenticated with an account's e-mail and API token (basic auth)."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from bot.followups.trackers.base import NewIssue, TrackerIssue, TrackerRejected, request
from playbooks.record import JiraTracker


class JiraIssues:
    name = "jira"

    def __init__(self, config: JiraTracker, email: str, token: str) -> None:
        self._site = config.site.rstrip("/")
        self._api = f"{self._site}/rest/api/3"
        self._config = config
        basic = base64.b64encode(f"{email}:{token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {basic}"}

    def create(self, issue: NewIssue) -> TrackerIssue:
        fields = {
            "project": {"key": self._config.project}, "issuetype": {"name": self._config.issue_type},
            "summary": issue.title[:255], "labels": [*self._config.labels, issue.marker], "duedate": issue.due_on,
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": line}]}
                for line in issue.body.splitlines() if line.strip()]},
        }
        created = request("POST", f"{self._api}/issue", self._headers, {"fields": fields})
        if not isinstance(created, dict) or not created.get("key"):
            raise TrackerRejected("Jira answered without an issue key")
        return TrackerIssue(key=str(created["key"]), url=self._browse(str(created["key"])), done=False)

    def find(self, marker: str) -> TrackerIssue | None:
        query = urllib.parse.urlencode({"jql": f'project = "{self._config.project}" AND labels = "{marker}"',
                                        "fields": "status", "maxResults": 1})
        found = request("GET", f"{self._api}/search/jql?{query}", self._headers)
        issues = found.get("issues") if isinstance(found, dict) else None
        return self._issue(issues[0]) if issues else None

    def get(self, key: str) -> TrackerIssue:
        return self._issue(request("GET", f"{self._api}/issue/{urllib.parse.quote(key)}?fields=status", self._headers))

    def close(self, key: str) -> TrackerIssue:
        path = f"{self._api}/issue/{urllib.parse.quote(key)}/transitions"
        listed = request("GET", path, self._headers)
        transitions = listed.get("transitions") if isinstance(listed, dict) else None
        done = [t for t in transitions or [] if _category(t.get("to")) == "done"]
        if not done:
            raise TrackerRejected(f"{key} has no transition to a status in the Done category")
        request("POST", path, self._headers, {"transition": {"id": str(done[0]["id"])}})
        return TrackerIssue(key=key, url=self._browse(key), done=True)

    def _issue(self, data: Any) -> TrackerIssue:
        if not isinstance(data, dict) or not data.get("key"):
            raise TrackerRejected("Jira answered without an issue")
        status = (data.get("fields") or {}).get("status")
        return TrackerIssue(key=str(data["key"]), url=self._browse(str(data["key"])), done=_category(status) == "done")

    def _browse(self, key: str) -> str:
        return f"{self._site}/browse/{key}"


def _category(status: Any) -> str:
    category = status.get("statusCategory") if isinstance(status, dict) else None
    return str(category.get("key")) if isinstance(category, dict) else ""
