"""The sandbox Web API over real HTTP, through slack_sdk clients, as the bot will use it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox import SandboxServer

pytestmark = pytest.mark.kind("integration")

TOKEN = "xoxb-sandbox-token"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> WebClient:
    return WebClient(base_url=server.api_url, token=TOKEN)


def slack_error(call: Callable[[], object]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def error_code(call: Callable[[], object]) -> str:
    return slack_error(call).response["error"]


def test_auth_is_checked(server: SandboxServer) -> None:
    assert error_code(lambda: WebClient(base_url=server.api_url).auth_test()) == "not_authed"
    assert error_code(lambda: WebClient(base_url=server.api_url, token="xoxb-wrong").auth_test()) == "invalid_auth"
    answer = WebClient(base_url=server.api_url, token=TOKEN).auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == ("U0OPSBOT", "B0OPSBOT", "T0SANDBOX")


def test_unknown_method(client: WebClient) -> None:
    assert error_code(lambda: client.api_call("chat.teleport")) == "unknown_method"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Incident 42", "invalid_name_specials"),
        ("INC-42", "invalid_name_specials"),
        ("inc.42", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
        ("general", "name_taken"),
    ],
)
def test_channel_name_rules(client: WebClient, name: str, error: str) -> None:
    assert error_code(lambda: client.conversations_create(name=name)) == error


def test_create_channel_makes_the_bot_a_member_and_takes_the_name(client: WebClient, server: SandboxServer) -> None:
    created = client.conversations_create(name="inc-2024-db_down", is_private=True)["channel"]
    assert created["is_private"] and created["is_member"] and created["id"].startswith("C")
    assert server.workspace.channel(created["id"]).members == {"U0OPSBOT"}
    assert error_code(lambda: client.conversations_create(name="inc-2024-db_down")) == "name_taken"
    assert client.conversations_create(name="x" * 80)["ok"]


def test_topic_needs_membership_and_fits_250_chars(client: WebClient, server: SandboxServer) -> None:
    general = server.workspace.channel_by_name("general")
    assert error_code(lambda: client.conversations_setTopic(channel=general.id, topic="hi")) == "not_in_channel"
    client.conversations_join(channel=general.id)
    assert client.conversations_setTopic(channel=general.id, topic="P1: db down")["channel"]["topic"]["value"]
    assert error_code(lambda: client.conversations_setTopic(channel=general.id, topic="x" * 251)) == "too_long"
    assert server.workspace.channel(general.id).topic == "P1: db down"


def test_invite_follows_slacks_all_or_nothing_rule(client: WebClient, server: SandboxServer) -> None:
    channel_id = client.conversations_create(name="inc-7")["channel"]["id"]
    client.conversations_invite(channel=channel_id, users=["U0ALICE", "U0BOB"])
    assert set(client.conversations_members(channel=channel_id)["members"]) == {"U0OPSBOT", "U0ALICE", "U0BOB"}

    refused = slack_error(lambda: client.conversations_invite(channel=channel_id, users="U0ALICE,U0CAROL"))
    assert refused.response["error"] == "already_in_channel"
    assert refused.response["errors"] == [{"user": "U0ALICE", "ok": False, "error": "already_in_channel"}]
    assert "U0CAROL" not in server.workspace.channel(channel_id).members

    forced = client.conversations_invite(channel=channel_id, users="U0ALICE,U0CAROL", force=True)
    assert forced["errors"][0]["user"] == "U0ALICE"
    assert "U0CAROL" in server.workspace.channel(channel_id).members

    assert error_code(lambda: client.conversations_invite(channel=channel_id, users="U0OPSBOT")) == "cant_invite_self"
    assert error_code(lambda: client.conversations_invite(channel=channel_id, users="U0NOBODY")) == "user_not_found"
    assert error_code(lambda: client.conversations_invite(channel="C0MISSING", users="U0DAVE")) == "channel_not_found"
    general = server.workspace.channel_by_name("general").id
    assert error_code(lambda: client.conversations_invite(channel=general, users="U0DAVE")) == "not_in_channel"


def test_post_update_and_pin(client: WebClient, server: SandboxServer) -> None:
    channel_id = client.conversations_create(name="inc-8")["channel"]["id"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*P1* db down"}}]
    # Form-encoded, with blocks as a JSON string, as older clients and Bolt's respond path send them.
    posted = client.api_call(
        "chat.postMessage", params={"channel": channel_id, "text": "db", "blocks": json.dumps(blocks)}
    )
    ts = posted["ts"]
    assert posted["channel"] == channel_id and posted["message"]["bot_id"] == "B0OPSBOT"
    assert posted["message"]["blocks"][0]["block_id"]  # Slack fills in block ids

    second = client.chat_postMessage(channel=channel_id, text="later")["ts"]
    assert float(second) > float(ts)

    client.chat_update(channel=channel_id, ts=ts, text="db down (resolved)")
    [message, _] = server.workspace.messages(channel_id)
    assert message.text == "db down (resolved)" and message.edited and message.blocks[0]["type"] == "section"

    client.pins_add(channel=channel_id, timestamp=ts)
    assert error_code(lambda: client.pins_add(channel=channel_id, timestamp=ts)) == "already_pinned"
    assert error_code(lambda: client.pins_add(channel=channel_id, timestamp="1.000001")) == "message_not_found"
    assert [m.ts for m in server.workspace.pinned_messages(channel_id)] == [ts]
    assert client.pins_list(channel=channel_id)["items"][0]["message"]["ts"] == ts

    human = server.workspace.post_as("U0ALICE", channel_id, "I'm on it")
    assert error_code(lambda: client.chat_update(channel=channel_id, ts=human.ts, text="x")) == "cant_update_message"
    assert error_code(lambda: client.chat_update(channel=channel_id, ts="1.000001", text="x")) == "message_not_found"


def test_pin_needs_membership(client: WebClient, server: SandboxServer) -> None:
    general = server.workspace.channel_by_name("general").id
    ts = client.chat_postMessage(channel=general, text="posted thanks to chat:write.public")["ts"]
    assert error_code(lambda: client.pins_add(channel=general, timestamp=ts)) == "not_in_channel"


def test_message_content_rules(client: WebClient) -> None:
    channel_id = client.conversations_create(name="inc-9")["channel"]["id"]
    assert error_code(lambda: client.api_call("chat.postMessage", json={"channel": channel_id})) == "no_text"
    divider = {"type": "divider"}
    too_many = [divider] * 51
    assert (
        error_code(lambda: client.chat_postMessage(channel=channel_id, text="x", blocks=too_many)) == "invalid_blocks"
    )
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    refused = slack_error(lambda: client.chat_postMessage(channel=channel_id, text="x", blocks=[long_section]))
    assert refused.response["error"] == "invalid_blocks"
    assert "3001" in refused.response["response_metadata"]["messages"][0]
    assert client.chat_postMessage(channel=channel_id, text="x", blocks=[divider] * 50)["ok"]


def test_threads(client: WebClient, server: SandboxServer) -> None:
    channel_id = client.conversations_create(name="inc-10")["channel"]["id"]
    parent = client.chat_postMessage(channel=channel_id, text="timeline")["ts"]
    reply = client.chat_postMessage(channel=channel_id, text="10:02 paged", thread_ts=parent)["ts"]
    client.chat_postMessage(channel=channel_id, text="10:05 mitigated", thread_ts=reply)  # a reply's ts → parent
    assert [m.text for m in server.workspace.thread(channel_id, parent)] == [
        "timeline",
        "10:02 paged",
        "10:05 mitigated",
    ]
    assert [m.text for m in server.workspace.messages(channel_id, include_threads=False)] == ["timeline"]
    history = client.conversations_history(channel=channel_id)["messages"]
    assert len(history) == 1 and history[0]["reply_count"] == 2
    assert len(client.conversations_replies(channel=channel_id, ts=parent)["messages"]) == 3
    assert (
        error_code(lambda: client.chat_postMessage(channel=channel_id, text="x", thread_ts="1.2")) == "thread_not_found"
    )


def test_private_channels_are_invisible_unless_the_bot_is_in_them(client: WebClient, server: SandboxServer) -> None:
    secret = server.workspace.add_channel("sec-incident", is_private=True, members=["U0CAROL"])
    assert error_code(lambda: client.chat_postMessage(channel=secret.id, text="x")) == "channel_not_found"
    assert error_code(lambda: client.conversations_info(channel=secret.id)) == "channel_not_found"


def test_history_needs_membership(client: WebClient, server: SandboxServer) -> None:
    general = server.workspace.channel_by_name("general").id
    assert error_code(lambda: client.conversations_history(channel=general)) == "not_in_channel"
    client.conversations_join(channel=general)
    for text in ("one", "two", "three"):
        client.chat_postMessage(channel=general, text=text)
    page = client.conversations_history(channel=general, limit=2)
    assert [m["text"] for m in page["messages"]] == ["three", "two"] and page["has_more"]
    rest = client.conversations_history(channel=general, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["one"]


def test_direct_messages_by_user_id(client: WebClient, server: SandboxServer) -> None:
    posted = client.chat_postMessage(channel="U0ALICE", text="You are on call")
    assert posted["channel"].startswith("D")
    assert [m.text for m in server.workspace.dms_to("U0ALICE")] == ["You are on call"]
    opened = client.conversations_open(users="U0ALICE")
    assert opened["channel"]["id"] == posted["channel"] and opened["already_open"]
    assert client.conversations_members(channel=posted["channel"])["members"] == ["U0ALICE", "U0OPSBOT"]


def test_ephemeral_needs_the_user_in_the_channel(client: WebClient, server: SandboxServer) -> None:
    channel_id = client.conversations_create(name="inc-11")["channel"]["id"]
    psst = {"channel": channel_id, "user": "U0ALICE", "text": "psst"}
    assert error_code(lambda: client.chat_postEphemeral(**psst)) == "user_not_in_channel"
    client.conversations_invite(channel=channel_id, users="U0ALICE")
    ts = client.chat_postEphemeral(**psst)["message_ts"]
    [ephemeral] = server.workspace.ephemerals("U0ALICE")
    assert (ephemeral.ts, ephemeral.text, ephemeral.via) == (ts, "psst", "chat.postEphemeral")
    assert server.workspace.ephemerals("U0BOB") == []


def test_directory(client: WebClient) -> None:
    groups = client.usergroups_list(include_users=True)["usergroups"]
    by_handle = {g["handle"]: g for g in groups}
    assert by_handle["oncall"]["users"] == ["U0ALICE", "U0KIM"] and by_handle["oncall"]["id"] == "S0ONCALL"
    assert {"platform-ops-lead", "security", "team-leads", "cto", "vp-ai", "product", "ceo", "legal", "pr"} < set(
        by_handle
    )
    assert "users" not in client.usergroups_list()["usergroups"][0]
    assert client.usergroups_users_list(usergroup="S0CEO")["users"] == ["U0HEIDI"]
    assert error_code(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"

    members = client.users_list()["members"]
    assert len(members) == 13 and {"alice", "heidi", "opsbot"} <= {m["name"] for m in members}
    assert client.users_info(user="U0HEIDI")["user"]["real_name"] == "CEO"
    assert client.users_lookupByEmail(email="bob@sandbox.test")["user"]["id"] == "U0BOB"
    assert error_code(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    assert error_code(lambda: client.users_lookupByEmail(email="nobody@sandbox.test")) == "users_not_found"
    assert client.team_info()["team"]["domain"] == "sandbox"


def test_conversation_list_pages_with_cursors(client: WebClient) -> None:
    names, cursor = [], None
    while True:
        page = client.conversations_list(limit=4, cursor=cursor)
        names += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == ["general", "incident-response", "platform-ops", "engineering", "executive", "alerts"]
    assert error_code(lambda: client.conversations_list(cursor="%%%")) == "invalid_cursor"


def test_permalink_bookmark_reaction(client: WebClient, server: SandboxServer) -> None:
    channel_id = client.conversations_create(name="inc-12")["channel"]["id"]
    ts = client.chat_postMessage(channel=channel_id, text="status")["ts"]
    link = client.chat_getPermalink(channel=channel_id, message_ts=ts)["permalink"]
    assert link == f"https://sandbox.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"

    bookmark = client.bookmarks_add(channel_id=channel_id, title="Runbook", type="link", link="https://runbooks/db")
    assert bookmark["bookmark"]["id"].startswith("Bk")
    assert server.workspace.channel(channel_id).bookmarks[0].title == "Runbook"
    assert error_code(lambda: client.bookmarks_add(channel_id=channel_id, title="x", type="link", link="ftp://x")) == (
        "invalid_link"
    )

    client.reactions_add(channel=channel_id, timestamp=ts, name="eyes")
    assert error_code(lambda: client.reactions_add(channel=channel_id, timestamp=ts, name="eyes")) == "already_reacted"
    assert server.workspace.messages(channel_id)[0].reactions == {"eyes": ["U0OPSBOT"]}


def test_every_call_is_recorded(client: WebClient, server: SandboxServer) -> None:
    client.auth_test()
    client.conversations_create(name="inc-13")
    assert error_code(lambda: client.conversations_create(name="inc-13")) == "name_taken"  # still recorded
    calls = server.workspace.calls_to("conversations.create")
    assert [c.args["name"] for c in calls] == ["inc-13", "inc-13"]
    assert "token" not in calls[0].args
    assert [c.method for c in server.workspace.calls] == ["auth.test", "conversations.create", "conversations.create"]


def test_async_client_as_bolt_uses_it(server: SandboxServer) -> None:
    async def scenario() -> tuple[str, str]:
        client = AsyncWebClient(base_url=server.api_url, token=TOKEN)
        channel_id = (await client.conversations_create(name="inc-async"))["channel"]["id"]
        await client.conversations_invite(channel=channel_id, users=["U0ALICE"])
        posted = await client.chat_postMessage(channel=channel_id, text="hi", blocks=[{"type": "divider"}])
        groups = await client.usergroups_list(include_users=True)
        assert groups["usergroups"][0]["users"]
        return channel_id, posted["ts"]

    channel_id, ts = asyncio.run(scenario())
    assert server.workspace.messages(channel_id)[0].ts == ts
    assert "U0ALICE" in server.workspace.channel(channel_id).members


def test_usergroups_users_update_checks_its_arguments_like_slack(server: SandboxServer, client: WebClient) -> None:
    """The on-call user group's one write: the whole member list at once, with Slack's errors."""
    updated = client.usergroups_users_update(usergroup="S0ONCALL", users="U0LEO,U0KIM")["usergroup"]
    assert (updated["id"], updated["users"], updated["user_count"]) == ("S0ONCALL", ["U0LEO", "U0KIM"], 2)
    assert client.usergroups_users_list(usergroup="S0ONCALL")["users"] == ["U0LEO", "U0KIM"]
    assert error_code(lambda: client.api_call("usergroups.users.update", data={"users": "U0LEO"})) \
        == "missing_argument"
    assert error_code(lambda: client.api_call("usergroups.users.update", data={"usergroup": "S0ONCALL"})) \
        == "no_users_provided"
    for users, error in (("", "invalid_users"), ("bob", "invalid_users"), ("U0NOBODY", "failed_for_some_users"),
                         (server.workspace.identity.bot_user_id, "invalid_users")):
        assert error_code(lambda u=users: client.usergroups_users_update(usergroup="S0ONCALL", users=u)) == error
    assert error_code(lambda: client.usergroups_users_update(usergroup="S0NOPE", users="U0LEO")) == "no_such_subteam"
    assert server.workspace.usergroup_by_handle("oncall").users == ["U0LEO", "U0KIM"]  # refusals changed nothing
