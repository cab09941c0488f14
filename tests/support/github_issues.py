"""A stand-in of GitHub's REST API for issues (docs.github.com/rest/issues/issues), the slice the
follow-ups use: create an issue, get one, update its state, list a repository's issues by label
and state. Request and answer shapes, status codes and error bodies as GitHub documents them
(``{"message": …, "documentation_url": …}``; 422 ``Validation Failed`` with ``errors``).

    with GitHubIssuesStandIn("acme/platform", token="ghp_test") as github:
        ... the bot's tracker at github.url ...
        github.close(1)  # someone closes issue #1 on GitHub
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from tests.support.http_stand_in import Answer, HttpStandIn, Request

DOCS = "https://docs.github.com/rest/issues/issues"
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues"


class GitHubIssuesStandIn(HttpStandIn):
    def __init__(self, repository: str, *, token: str) -> None:
        super().__init__()
        self.repository = repository
        self.token = token
        self.issues: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1_000_001)
        self.route("POST", _REPO, self._create)
        self.route("GET", _REPO, self._list)
        self.route("GET", _REPO + r"/(?P<number>[0-9]+)", self._get)
        self.route("PATCH", _REPO + r"/(?P<number>[0-9]+)", self._update)

    # what people do on GitHub
    def close(self, number: int, reason: str = "completed") -> None:
        with self.lock:
            issue = self.issues[number]
            issue.update(state="closed", state_reason=reason, closed_at=_now(), updated_at=_now())

    # the API
    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header in (f"Bearer {self.token}", f"token {self.token}")

    def unauthorized(self) -> Answer:
        return Answer(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                            "status": "401"})

    def not_found(self) -> Answer:
        return Answer(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})

    def _mine(self, found: re.Match[str]) -> bool:
        return f"{found['owner']}/{found['repo']}" == self.repository

    def _create(self, request: Request, found: re.Match[str]) -> Answer:
        if not self._mine(found):
            return self.not_found()
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("title"), str) or not body["title"]:
            return _invalid("title", "missing_field")
        labels = body.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            return _invalid("labels", "invalid")
        number = max(self.issues, default=0) + 1
        now = _now()
        base = f"{self.url}/repos/{self.repository}"
        self.issues[number] = {
            "id": next(self._ids), "node_id": f"I_kwDO{number:08d}", "url": f"{base}/issues/{number}",
            "repository_url": base, "html_url": f"https://github.com/{self.repository}/issues/{number}",
            "number": number, "state": "open", "state_reason": None, "title": body["title"],
            "body": body.get("body"), "user": {"login": "opsbot[bot]", "type": "Bot"},
            "labels": [{"id": i + 1, "name": name, "default": False} for i, name in enumerate(labels)],
            "assignee": None, "assignees": [], "locked": False, "comments": 0,
            "created_at": now, "updated_at": now, "closed_at": None, "author_association": "NONE",
        }
        return Answer(201, self.issues[number])

    def _get(self, request: Request, found: re.Match[str]) -> Answer:
        issue = self.issues.get(int(found["number"])) if self._mine(found) else None
        return Answer(200, issue) if issue else self.not_found()

    def _update(self, request: Request, found: re.Match[str]) -> Answer:
        issue = self.issues.get(int(found["number"])) if self._mine(found) else None
        if issue is None:
            return self.not_found()
        body = request.body if isinstance(request.body, dict) else {}
        state, reason = body.get("state", issue["state"]), body.get("state_reason")
        if state not in ("open", "closed"):
            return _invalid("state", "invalid")
        if reason not in (None, "completed", "not_planned", "reopened", "duplicate"):
            return _invalid("state_reason", "invalid")
        if state != issue["state"]:
            issue.update(state=state, closed_at=_now() if state == "closed" else None)
        issue.update(state_reason=reason if state == "closed" else ("reopened" if reason else None),
                     updated_at=_now())
        if isinstance(body.get("title"), str):
            issue["title"] = body["title"]
        return Answer(200, issue)

    def _list(self, request: Request, found: re.Match[str]) -> Answer:
        if not self._mine(found):
            return self.not_found()
        state = request.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            return _invalid("state", "invalid")
        wanted = {label for label in request.query.get("labels", "").split(",") if label}
        per_page = min(int(request.query.get("per_page", "30")), 100)
        issues = [i for i in self.issues.values() if state in ("all", i["state"])
                  and wanted <= {label["name"] for label in i["labels"]}]
        issues.sort(key=lambda i: i["number"], reverse=request.query.get("direction", "desc") == "desc")
        return Answer(200, issues[:per_page])


def _invalid(field: str, code: str) -> Answer:
    return Answer(422, {"message": "Validation Failed", "errors": [{"resource": "Issue", "code": code,
                                                                     "field": field}],
                        "documentation_url": DOCS, "status": "422"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
