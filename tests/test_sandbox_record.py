"""The sandbox's canvases, external uploads, history window and rate limits over real HTTP, through
slack_sdk as the bot uses it: Slack's argument checks and error codes, and what ends up in the
workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox import SandboxServer

pytestmark = pytest.mark.kind("integration")
TOKEN = "xoxb-sandbox-token"
DOC = "# Post-mortem\n## Timeline\n- **09:30** - Declared\n- **09:41** - Found it\n## Action Items\n" \
      "| Action | Owner |\n|---|---|\n| Alert | ![](@U0KIM) |\n## Prevention Measures\n[to do]"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> WebClient:
    return WebClient(base_url=server.api_url, token=TOKEN, retry_handlers=[])


@pytest.fixture
def channel(server: SandboxServer, client: WebClient) -> str:
    return client.conversations_create(name="incident-20261128-0930")["channel"]["id"]


def error(call) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"], dict(caught.value.response.data)


def content(markdown: str) -> dict:
    return {"type": "markdown", "markdown": markdown}


def test_a_channel_canvas_is_created_once_per_channel(server: SandboxServer, client: WebClient, channel: str) -> None:
    made = client.conversations_canvases_create(channel_id=channel, title="INC-0001", document_content=content(DOC))
    canvas = server.workspace.canvas(made["canvas_id"])
    assert canvas is not None and canvas.channel_id == channel and canvas.title == "INC-0001"
    assert [s.kind for s in canvas.sections] == ["h1", "h2", "list_item", "list_item", "h2", "table", "h2",
                                                 "paragraph"]
    assert error(lambda: client.conversations_canvases_create(channel_id=channel, document_content=content("x")))[0] \
        == "channel_canvas_already_exists"
    assert error(lambda: client.api_call("conversations.canvases.create", json={}))[0] == "invalid_arguments"
    assert error(lambda: client.conversations_canvases_create(channel_id="C0GENERAL",
                                                              document_content=content("x")))[0] == "not_in_channel"
    other = client.conversations_create(name="other")["channel"]["id"]
    assert error(lambda: client.conversations_canvases_create(
        channel_id=other, document_content={"type": "html", "markdown": "x"}))[0] == "invalid_arguments"
    code, body = error(lambda: client.conversations_canvases_create(channel_id=other,
                                                                     document_content=content("#### Too deep")))
    assert code == "canvas_editing_failed" and "Unsupported heading level 4" in body["detail"]
    server.workspace.disable_canvases()
    assert error(lambda: client.conversations_canvases_create(channel_id=other, document_content=content("x")))[0] \
        == "team_tier_cannot_create_channel_canvases"


def test_sections_are_found_by_heading_and_text_and_edited_one_change_at_a_time(
        server: SandboxServer, client: WebClient, channel: str) -> None:
    canvas_id = client.conversations_canvases_create(channel_id=channel, document_content=content(DOC))["canvas_id"]
    found = client.canvases_sections_lookup(canvas_id=canvas_id, criteria={"section_types": ["h2"],
                                                                           "contains_text": "action items"})
    [section] = found["sections"]
    assert client.canvases_sections_lookup(canvas_id=canvas_id, criteria={"contains_text": "found it"})["sections"]
    assert error(lambda: client.canvases_sections_lookup(canvas_id=canvas_id, criteria={}))[0] == "invalid_arguments"
    assert error(lambda: client.canvases_sections_lookup(canvas_id=canvas_id,
                                                         criteria={"section_types": ["h4"]}))[0] == "invalid_arguments"
    assert error(lambda: client.canvases_sections_lookup(canvas_id="F0NONE", criteria={"contains_text": "x"}))[0] == \
        "canvas_not_found"

    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "insert_before", "section_id": section["id"],
                                                        "document_content": content("- **10:12** - Resolved")}])
    markdown = server.workspace.canvas(canvas_id).markdown
    assert "- **09:41** - Found it\n- **10:12** - Resolved\n## Action Items" in markdown
    two = [{"operation": "insert_at_end", "document_content": content("a")}] * 2
    assert error(lambda: client.canvases_edit(canvas_id=canvas_id, changes=two))[0] == "invalid_arguments"
    assert error(lambda: client.canvases_edit(canvas_id=canvas_id, changes=[
        {"operation": "insert_after", "document_content": content("a")}]))[0] == "invalid_arguments"
    assert error(lambda: client.canvases_edit(canvas_id=canvas_id, changes=[
        {"operation": "delete", "section_id": "temp:C:nope"}]))[0] == "canvas_editing_failed"
    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "delete", "section_id": section["id"]}])
    assert "## Action Items" not in server.workspace.canvas(canvas_id).markdown
    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "replace", "document_content": content("# New")}])
    assert server.workspace.canvas(canvas_id).markdown == "# New"
    too_big = content("x" * 1_048_577)
    assert error(lambda: client.canvases_edit(canvas_id=canvas_id, changes=[
        {"operation": "insert_at_end", "document_content": too_big}]))[0] == "canvas_too_large"


def test_a_file_is_uploaded_in_three_steps_and_files_upload_is_retired(server: SandboxServer, client: WebClient,
                                                                        channel: str) -> None:
    shared = client.files_upload_v2(channel=channel, filename="INC-0001-post-mortem.md", title="INC-0001",
                                    content="# Post-mortem\nßöme text", initial_comment="The draft")
    [file] = server.workspace.files_in(channel)
    assert shared["files"][0]["id"] == file.id and file.content == "# Post-mortem\nßöme text".encode()
    assert file.length == len(file.content) and file.title == "INC-0001"
    [message] = [m for m in server.workspace.messages(channel) if m.files]
    assert message.text == "The draft" and message.files[0]["name"] == "INC-0001-post-mortem.md"
    assert [c.method for c in server.workspace.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]

    assert error(lambda: client.files_getUploadURLExternal(filename="x.md", length=0))[0] == "missing_argument"
    assert error(lambda: client.files_getUploadURLExternal(filename="x.md", length=5, alt_txt="a" * 1001))[0] == \
        "alt_txt_too_large"
    announced = client.files_getUploadURLExternal(filename="x.md", length=5)
    assert error(lambda: client.files_completeUploadExternal(files=[{"id": announced["file_id"]}],
                                                             channel_id=channel))[0] == "file_not_found"
    assert error(lambda: client.api_call("files.upload", data={"channels": channel, "content": "x"}))[0] == \
        "method_deprecated"
    assert error(lambda: client.api_call("files.completeUploadExternal",
                                         data={"files": json.dumps([{"title": "no id"}])}))[0] == "invalid_arguments"


def test_history_reads_are_held_to_tier_one_when_the_workspace_says_so(server: SandboxServer, client: WebClient,
                                                                        channel: str) -> None:
    root = server.workspace.post_as("U0ALICE", channel, "root")
    replies = [server.workspace.post_as("U0BOB", channel, f"reply {n}", root.ts) for n in range(20)]
    window = client.conversations_replies(channel=channel, ts=replies[3].ts, oldest=replies[3].ts,
                                          latest=replies[3].ts, inclusive=True)
    assert [m["text"] for m in window["messages"]] == ["root", "reply 3"]  # the parent always comes first
    server.workspace.rate_limit("conversations.replies", 1)
    page = client.conversations_replies(channel=channel, ts=root.ts, limit=100)
    assert len(page["messages"]) == 15 and page["has_more"]  # Tier 1: at most 15 a call
    with pytest.raises(SlackApiError) as caught:
        client.conversations_replies(channel=channel, ts=root.ts)
    assert caught.value.response.status_code == 429 and int(caught.value.response.headers["Retry-After"]) >= 1
