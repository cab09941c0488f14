"""A stand-in of Jira Cloud's REST API v3 (developer.atlassian.com/cloud/jira/platform/rest/v3), the
slice the follow-ups use: create an issue, get an issue's status, list and perform its transitions,
and search with JQL (``GET /rest/api/3/search/jql``, the enhanced search). Shapes as Atlassian
documents them: ``{"id", "key", "self"}`` for a created issue, ``fields.status.statusCategory.key``
(``new``, ``indeterminate``, ``done``), errors as ``{"errorMessages": [...], "errors": {field: …}}``,
basic authentication with an account's e-mail and API token.

    with JiraCloudStandIn("OPS", email="bot@example.com", token="api-token") as jira:
        ... the bot's tracker at jira.url ...
        jira.move("OPS-1", "Done")  # someone moves the issue on the board
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.support.http_stand_in import Answer, HttpStandIn, Request

STATUSES = {
    "To Do": {"id": "10000", "statusCategory": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"}},
    "In Progress": {"id": "3", "statusCategory": {"id": 4, "key": "indeterminate", "colorName": "yellow",
                                                  "name": "In Progress"}},
    "Done": {"id": "10001", "statusCategory": {"id": 3, "key": "done", "colorName": "green", "name": "Done"}},
}
TRANSITIONS = {"11": "To Do", "21": "In Progress", "31": "Done"}
ISSUE_TYPES = ("Task", "Bug", "Story")
_JQL = re.compile(r'project\s*=\s*"?(?P<project>[A-Z][A-Z0-9_]*)"?\s+AND\s+labels\s*=\s*"?(?P<label>[^"\s]+)"?')


class JiraCloudStandIn(HttpStandIn):
    def __init__(self, project: str, *, email: str, token: str) -> None:
        super().__init__()
        self.project = project
        self._basic = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        self.issues: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/rest/api/3/issue", self._create)
        self.route("GET", r"/rest/api/3/issue/(?P<key>[A-Z0-9_]+-[0-9]+)", self._get)
        self.route("GET", r"/rest/api/3/issue/(?P<key>[A-Z0-9_]+-[0-9]+)/transitions", self._transitions)
        self.route("POST", r"/rest/api/3/issue/(?P<key>[A-Z0-9_]+-[0-9]+)/transitions", self._transition)
        self.route("GET", r"/rest/api/3/search/jql", self._search)

    # what people do on the board
    def move(self, key: str, status: str) -> None:
        with self.lock:
            self.issues[key]["fields"]["status"] = _status(status)

    # the API
    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == self._basic

    def unauthorized(self) -> Answer:
        return Answer(401, {"errorMessages": ["You are not authenticated. Authentication required to perform "
                                              "this operation."], "errors": {}})

    def not_found(self) -> Answer:
        return Answer(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                            "errors": {}})

    def _create(self, request: Request, _found: re.Match[str]) -> Answer:
        fields = (request.body or {}).get("fields") if isinstance(request.body, dict) else None
        if not isinstance(fields, dict):
            return Answer(400, {"errorMessages": ["Request body is not valid: fields is required."], "errors": {}})
        errors = {}
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(fields["summary"]) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "Specify a valid issue type"
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or any(c.isspace() for c in label):
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        description = fields.get("description")
        if description is not None and not (isinstance(description, dict) and description.get("type") == "doc"):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        if fields.get("duedate") is not None and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fields["duedate"]):
            errors["duedate"] = "Error parsing date string: " + str(fields["duedate"])
        if errors:
            return Answer(400, {"errorMessages": [], "errors": errors})
        number = len(self.issues) + 1
        key, issue_id = f"{self.project}-{number}", str(10_000 + number)
        self.issues[key] = {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/3/issue/{issue_id}",
                            "fields": {**fields, "status": _status("To Do")}}
        return Answer(201, {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/3/issue/{issue_id}"})

    def _get(self, request: Request, found: re.Match[str]) -> Answer:
        issue = self.issues.get(found["key"])
        if issue is None:
            return self.not_found()
        wanted = [f for f in request.query.get("fields", "").split(",") if f]
        fields = {k: v for k, v in issue["fields"].items() if not wanted or k in wanted}
        return Answer(200, {"expand": "renderedFields,names,schema,operations,editmeta,changelog",
                            "id": issue["id"], "key": issue["key"], "self": issue["self"], "fields": fields})

    def _transitions(self, _request: Request, found: re.Match[str]) -> Answer:
        if found["key"] not in self.issues:
            return self.not_found()
        return Answer(200, {"expand": "transitions", "transitions": [
            {"id": tid, "name": name, "to": {"self": f"{self.url}/rest/api/3/status/{STATUSES[name]['id']}",
                                             "name": name, **_status(name)},
             "hasScreen": False, "isGlobal": True, "isInitial": False, "isConditional": False}
            for tid, name in TRANSITIONS.items()]})

    def _transition(self, request: Request, found: re.Match[str]) -> Answer:
        issue = self.issues.get(found["key"])
        if issue is None:
            return self.not_found()
        wanted = str(((request.body or {}).get("transition") or {}).get("id"))
        if wanted not in TRANSITIONS:
            return Answer(400, {"errorMessages": [f"Transition id '{wanted}' is not valid for this issue."],
                                "errors": {}})
        issue["fields"]["status"] = _status(TRANSITIONS[wanted])
        return Answer(204)

    def _search(self, request: Request, _found: re.Match[str]) -> Answer:
        query = _JQL.fullmatch(request.query.get("jql", "").strip())
        if query is None:
            return Answer(400, {"errorMessages": [f"Error in the JQL Query: {request.query.get('jql', '')!r} is not "
                                                  "a query this stand-in knows."], "errors": {}})
        found = [i for i in self.issues.values() if query["project"] == self.project
                 and query["label"] in (i["fields"].get("labels") or [])]
        limit = int(request.query.get("maxResults", "50"))
        wanted = [f for f in request.query.get("fields", "").split(",") if f]
        return Answer(200, {"issues": [{"id": i["id"], "key": i["key"], "self": i["self"],
                                        "fields": {k: v for k, v in i["fields"].items() if k in wanted}}
                                       for i in found[:limit]], "isLast": len(found) <= limit})


def _status(name: str) -> dict[str, Any]:
    return {"name": name, "id": STATUSES[name]["id"], "statusCategory": dict(STATUSES[name]["statusCategory"])}
