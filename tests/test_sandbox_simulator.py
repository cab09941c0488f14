"""Signed requests built as Slack builds them, against a recording stand-in for the bot; and the console."""

from __future__ import annotations

import io
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.sandbox import SandboxServer, SlackSimulator, run_console, sign
from bot.sandbox.remote import RemoteSandbox

pytestmark = pytest.mark.kind("e2e")

SECRET = "sandbox-signing-secret"
TOKEN = "xoxb-sandbox-token"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.form["payload"])


Reply = Callable[[Received], tuple[int, str]]


class FakeBot:
    """Answers `POST /slack/events` with `reply` (default: an empty 200 ack) and keeps every request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reply: Reply = lambda _: (200, "")
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                request = Received(dict(self.headers), self.rfile.read(int(self.headers["Content-Length"])))
                bot.received.append(request)
                status, body = bot.reply(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/plain")
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def bot() -> Iterator[FakeBot]:
    fake = FakeBot()
    yield fake
    fake.close()


@pytest.fixture(params=["in-process", "remote"])
def slack(server: SandboxServer, bot: FakeBot, request: pytest.FixtureRequest) -> SlackSimulator:
    """The same requests whether the sandbox runs in this process or in another one (through its
    /_sandbox endpoints, as the sandbox walk test drives `opsbot sandbox`)."""
    side = server if request.param == "in-process" else RemoteSandbox(server.base_url)
    return SlackSimulator(bot.url, SECRET, side)


@pytest.fixture
def client(server: SandboxServer) -> WebClient:
    return WebClient(base_url=server.api_url, token=TOKEN)


def verifies(request: Received) -> bool:
    return SignatureVerifier(SECRET).is_valid_request(request.body, request.headers)


def post_json(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


# The same action_id twice, told apart by value: Slack allows that across blocks, not within one.
BUTTONS = [
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*INC-42* Database down"},
        "accessory": {
            "type": "button",
            "action_id": "claim",
            "value": "ic",
            "text": {"type": "plain_text", "text": "Claim IC"},
        },
    },
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "claim", "value": "comms", "text": {"type": "plain_text", "text": "Comms"}},
        ],
    },
]


def test_published_signature_vector() -> None:
    secret, timestamp = "8f742231b10e8888abcd99yyyzzz85a5", "1531420618"
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(secret, timestamp, body) == expected
    assert SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) == expected


def test_command_is_a_signed_form_with_working_trigger_and_response_url(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    answer = slack.command("U0ALICE", "C0INCIDENTS", "/incident", "declare P1 <@U0BOB|bob> db down")
    assert answer.status == 200 and answer.acked_in_time
    [request] = bot.received
    assert verifies(request)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = request.form
    assert {k: form[k] for k in ("command", "user_id", "user_name", "channel_id", "channel_name", "team_id")} == {
        "command": "/incident",
        "user_id": "U0ALICE",
        "user_name": "alice",
        "channel_id": "C0INCIDENTS",
        "channel_name": "incident-response",
        "team_id": "T0SANDBOX",
    }
    assert form["text"] == "declare P1 <@U0BOB|bob> db down" and form["api_app_id"] == "A0OPSBOT"

    client.views_open(
        trigger_id=form["trigger_id"],
        view={"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []},
    )
    assert [v.user for v in server.workspace.views] == ["U0ALICE"]

    statuses = [post_json(form["response_url"], {"text": f"reply {n}"}) for n in range(6)]
    assert statuses == [200] * 5 + [404]
    assert [e.text for e in server.workspace.ephemerals("U0ALICE")] == [f"reply {n}" for n in range(5)]
    assert post_json(form["response_url"].replace("respond/", "respond/x"), {"text": "?"}) == 404


def test_response_url_in_channel(slack: SlackSimulator, bot: FakeBot, server: SandboxServer) -> None:
    slack.command("U0ALICE", "C0INCIDENTS", "/incident", "status")
    assert post_json(bot.received[0].form["response_url"], {"response_type": "in_channel", "text": "All good"}) == 200
    [message] = server.workspace.messages("C0INCIDENTS")
    assert (message.text, message.user) == ("All good", "U0OPSBOT")


def test_command_ack_body_is_shown_like_slack_shows_it(
    slack: SlackSimulator, bot: FakeBot, server: SandboxServer
) -> None:
    bot.reply = lambda _: (200, json.dumps({"text": "Declaring…"}))
    slack.command("U0BOB", "C0PLATFORM", "/incident", "declare")
    [ack] = server.workspace.ephemerals("U0BOB")
    assert (ack.text, ack.via, ack.channel) == ("Declaring…", "ack", "C0PLATFORM")

    bot.reply = lambda _: (200, json.dumps({"response_type": "in_channel", "text": "Incident INC-1 declared"}))
    slack.command("U0BOB", "C0PLATFORM", "/incident", "declare")
    assert [m.text for m in server.workspace.messages("C0PLATFORM")] == ["Incident INC-1 declared"]

    bot.reply = lambda _: (401, '{"error": "invalid request"}')
    answer = slack.command("U0BOB", "C0PLATFORM", "/incident", "declare")
    assert answer.status == 401 and answer.json == {"error": "invalid request"} and not answer.acked_in_time


def test_overrides_for_stale_and_forged_requests(slack: SlackSimulator, bot: FakeBot) -> None:
    slack.command("U0ALICE", "C0GENERAL", "/incident", "list", timestamp=1531420618)
    slack.command("U0ALICE", "C0GENERAL", "/incident", "list", signature="v0=" + "0" * 64)
    stale, forged = bot.received
    assert stale.headers["X-Slack-Request-Timestamp"] == "1531420618" and not verifies(stale)
    assert forged.headers["X-Slack-Signature"] == "v0=" + "0" * 64 and not verifies(forged)


def test_click_sends_block_actions(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    ts = client.chat_postMessage(channel="C0INCIDENTS", text="INC-42", blocks=BUTTONS)["ts"]
    slack.click("U0CAROL", "C0INCIDENTS", ts, "claim", value="comms")
    [request] = bot.received
    assert verifies(request)
    payload = request.payload
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0CAROL"
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": "C0INCIDENTS",
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": "C0INCIDENTS", "name": "incident-response"}
    assert payload["message"]["ts"] == ts and payload["message"]["bot_id"] == "B0OPSBOT"
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("claim", "comms", "button")
    assert action["block_id"] == server.workspace.messages("C0INCIDENTS")[0].blocks[1]["block_id"]

    with pytest.raises(AssertionError, match="'Claim IC' \\(action_id=claim, value=ic\\)"):
        slack.click("U0CAROL", "C0INCIDENTS", ts, "resolve")

    # respond(replace_original=True) edits the clicked message for everyone.
    post_json(payload["response_url"], {"replace_original": True, "text": "Comms: carol"})
    [edited] = server.workspace.messages("C0INCIDENTS")
    assert (edited.text, edited.blocks) == ("Comms: carol", [])


def test_click_on_an_ephemeral_message(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    ts = client.chat_postEphemeral(channel="C0INCIDENTS", user="U0DAVE", text="Confirm?", blocks=BUTTONS)["message_ts"]
    with pytest.raises(AssertionError, match="can see"):
        slack.click("U0ALICE", "C0INCIDENTS", ts, "claim")
    slack.click("U0DAVE", "C0INCIDENTS", ts, "claim")
    payload = bot.received[0].payload
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    assert payload["actions"][0]["value"] == "ic"  # the first matching button
    post_json(payload["response_url"], {"delete_original": True})
    assert server.workspace.ephemerals("U0DAVE") == []


DECLARE_MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "private_metadata": '{"channel": "C0INCIDENTS"}',
    "title": {"type": "plain_text", "text": "Declare incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value", "max_length": 80},
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [{"text": {"type": "plain_text", "text": f"P{n}"}, "value": f"P{n}"} for n in range(3)],
            },
        },
        {
            "type": "input",
            "block_id": "commander",
            "optional": True,
            "label": {"type": "plain_text", "text": "Commander"},
            "element": {"type": "users_select", "action_id": "value"},
        },
    ],
}


def open_modal(client: WebClient, server: SandboxServer, user_id: str) -> str:
    trigger = server.workspace.mint_trigger_id(user_id)
    return client.views_open(trigger_id=trigger, view=DECLARE_MODAL)["view"]["id"]


def test_submit_view(slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer) -> None:
    view_id = open_modal(client, server, "U0ALICE")
    bot.reply = lambda _: (200, json.dumps({"response_action": "errors", "errors": {"title": "Too vague"}}))
    slack.submit_view("U0ALICE", view_id, {"title": {"value": "db"}, "severity": {"value": "P1"}})
    assert server.workspace.view(view_id).closed is False

    bot.reply = lambda _: (200, "")
    values = {"title": {"value": "Database down"}, "severity": {"value": "P1"}, "commander": {"value": "U0BOB"}}
    slack.submit_view("U0ALICE", view_id, values)
    payload = bot.received[-1].payload
    assert verifies(bot.received[-1]) and payload["type"] == "view_submission"
    view = payload["view"]
    assert (view["id"], view["callback_id"], view["private_metadata"]) == (
        view_id,
        "declare",
        DECLARE_MODAL["private_metadata"],
    )
    assert view["state"]["values"] == {
        "title": {"value": {"type": "plain_text_input", "value": "Database down"}},
        "severity": {
            "value": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "P1"}, "value": "P1"},
            }
        },
        "commander": {"value": {"type": "users_select", "selected_user": "U0BOB"}},
    }
    assert server.workspace.view(view_id).closed and server.workspace.open_views("U0ALICE") == []


def test_submit_view_refuses_what_slack_would_not_send(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    view_id = open_modal(client, server, "U0ALICE")
    with pytest.raises(AssertionError, match="required field 'Severity'"):
        slack.submit_view("U0ALICE", view_id, {"title": {"value": "x"}})
    with pytest.raises(AssertionError, match="no option \\['P7'\\]"):
        slack.submit_view("U0ALICE", view_id, {"title": {"value": "x"}, "severity": {"value": "P7"}})
    with pytest.raises(AssertionError, match="not open for U0BOB"):
        slack.submit_view("U0BOB", view_id, {})
    bot.reply = lambda _: (200, json.dumps({"response_action": "errors", "errors": {"nope": "?"}}))
    with pytest.raises(AssertionError, match="invalid_errors"):
        slack.submit_view("U0ALICE", view_id, {"title": {"value": "x"}, "severity": {"value": "P0"}})
    assert bot.received  # the requests that were valid did go out


def test_submit_view_response_actions(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    view_id = open_modal(client, server, "U0ALICE")
    step_two = {**DECLARE_MODAL, "title": {"type": "plain_text", "text": "Confirm"}}
    bot.reply = lambda _: (200, json.dumps({"response_action": "push", "view": step_two}))
    values = {"title": {"value": "x"}, "severity": {"value": "P0"}}
    slack.submit_view("U0ALICE", view_id, values)
    stack = server.workspace.open_views("U0ALICE")
    assert [v.view["title"]["text"] for v in stack] == ["Declare incident", "Confirm"]

    bot.reply = lambda _: (200, json.dumps({"response_action": "clear"}))
    slack.submit_view("U0ALICE", stack[-1].id, values)
    assert server.workspace.open_views("U0ALICE") == []


def test_events_with_retry_headers(slack: SlackSimulator, bot: FakeBot) -> None:
    slack.post_event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}, retry_num=1)
    [request] = bot.received
    assert verifies(request) and request.headers["Content-Type"] == "application/json"
    assert (request.headers["X-Slack-Retry-Num"], request.headers["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    envelope = json.loads(request.body)
    assert envelope["type"] == "event_callback" and envelope["event"]["type"] == "app_home_opened"
    assert envelope["authorizations"][0]["user_id"] == "U0OPSBOT" and envelope["event_id"].startswith("Ev")


def run(server: SandboxServer, slack: SlackSimulator, lines: str, user: str = "alice") -> str:
    out = io.StringIO()
    run_console(server, slack, user=user, stdin=io.StringIO(lines), stdout=out, modal_wait=0.2)
    return out.getvalue()


def test_console_shows_messages_and_clicks_numbered_buttons(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    client.chat_postMessage(channel="C0INCIDENTS", text="<!subteam^S0ONCALL|@oncall> INC-42 declared", blocks=BUTTONS)
    output = run(server, slack, ":channels\n2\n#general\n@bob\n:quit\nnever read\n")
    assert "opsbot: @oncall INC-42 declared" in output
    assert "│ *INC-42* Database down" in output
    assert "[1] Claim IC  [2] Comms" in output
    assert "#incident-response (member, 1 messages)" in output
    assert "── #general ──" in output and "now acting as @bob" in output
    [click] = bot.received
    assert click.payload["user"]["id"] == "U0ALICE" and click.payload["actions"][0]["value"] == "comms"


def test_console_sends_commands_and_fills_modals(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    def reply(request: Received) -> tuple[int, str]:
        if "command" in request.form:
            client.views_open(trigger_id=request.form["trigger_id"], view=DECLARE_MODAL)
            return 200, ""
        state = request.payload["view"]["state"]["values"]
        if state["title"]["value"]["value"] == "bad":
            return 200, json.dumps({"response_action": "errors", "errors": {"title": "Say what broke"}})
        client.chat_postMessage(channel="C0INCIDENTS", text=f"Declared: {state['title']['value']['value']}")
        return 200, ""

    bot.reply = reply
    lines = "/incident declare\nbad\n1\n\nDatabase down\n9\n2\n@bob\n"  # then end of input
    output = run(server, slack, lines)
    assert "┌ modal: Declare incident" in output and "1. P0" in output
    assert "✗ title: Say what broke" in output and "pick 1 to 3" in output
    assert "└ submitted" in output and "Declared: Database down" in output
    final = bot.received[-1].payload["view"]["state"]["values"]
    assert final["severity"]["value"]["selected_option"]["value"] == "P1"
    assert final["commander"]["value"]["selected_user"] == "U0BOB"


def test_console_shows_ephemerals_and_reports_a_failing_bot(
    slack: SlackSimulator, bot: FakeBot, server: SandboxServer
) -> None:
    bot.reply = lambda request: (200, json.dumps({"text": f"Usage: {request.form['command']} declare"}))
    output = run(server, slack, "/incident\n")
    assert "opsbot (only visible to you): Usage: /incident declare" in output
    bot.reply = lambda _: (500, "boom")
    assert "! the bot answered HTTP 500: boom" in run(server, slack, "/incident\n:quit\n")


def test_close_view_tells_the_bot_only_when_asked(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    view_id = open_modal(client, server, "U0ALICE")
    assert slack.close_view("U0ALICE", view_id) is None and not bot.received
    assert server.workspace.view(view_id).closed

    trigger = server.workspace.mint_trigger_id("U0ALICE")
    noisy = client.views_open(trigger_id=trigger, view={**DECLARE_MODAL, "notify_on_close": True})["view"]["id"]
    assert slack.close_view("U0ALICE", noisy).status == 200
    assert bot.received[-1].payload["type"] == "view_closed" and server.workspace.view(noisy).closed


def test_console_sends_mentions_and_channels_as_slack_escapes_them(
    slack: SlackSimulator, bot: FakeBot, server: SandboxServer
) -> None:
    line = "/incident assign ic @bob, cc @oncall and @here in #platform-ops; not @nobody, bob@example.com, #nowhere"
    output = run(server, slack, f"{line}\n@bob\n")
    [command] = bot.received
    assert command.form["text"] == (
        "assign ic <@U0BOB|bob>, cc <!subteam^S0ONCALL|@oncall> and <!here> in <#C0PLATFORM|platform-ops>; "
        "not @nobody, bob@example.com, #nowhere")
    assert command.form["user_id"] == "U0ALICE", "@bob inside a command mentions bob; alone it switches user"
    assert "now acting as @bob" in output


def test_console_lists_people_and_user_groups_with_their_handles(slack: SlackSimulator, server: SandboxServer) -> None:
    output = run(server, slack, ":users\n")
    assert "@alice  on-call engineer  ← you" in output and "@bob    Platform Ops Lead" in output
    assert "@oncall             On-call: @alice, @kim" in output
    assert "@platform-ops-lead  Platform Ops Lead: @bob" in output


def test_console_shows_prefilled_values_and_keeps_them(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    prefilled = json.loads(json.dumps(DECLARE_MODAL))
    title, severity, commander = (b["element"] for b in prefilled["blocks"])
    title["initial_value"] = "Checkout is failing"
    severity["initial_option"] = severity["options"][1]
    commander["initial_user"] = "U0BOB"

    def reply(request: Received) -> tuple[int, str]:
        if "command" in request.form:
            client.views_open(trigger_id=request.form["trigger_id"], view=prefilled)
        return 200, ""

    bot.reply = reply
    output = run(server, slack, "/incident declare\n\n\n-\n")  # keep, keep, empty the optional commander
    assert "│ Title [Checkout is failing]: " in output and "│ Severity [P1]: " in output
    assert "│ Commander (optional) [@bob]: " in output and "└ submitted" in output
    state = bot.received[-1].payload["view"]["state"]["values"]
    assert state["title"]["value"]["value"] == "Checkout is failing"
    assert state["severity"]["value"]["selected_option"]["value"] == "P1"
    assert state["commander"]["value"]["selected_user"] is None


def test_console_says_reacts_and_runs_the_message_shortcut_as_slack_delivers_them(
    bot: FakeBot, server: SandboxServer
) -> None:
    slack = SlackSimulator(bot.url, SECRET, server)  # people's own actions: an in-process sandbox
    output = run(server, slack, "#general\n:say found it, @bob\n:react pushpin\n:react pushpin\n:shortcut\n:quit\n")
    said, reacted, shortcut = bot.received
    assert all(verifies(r) for r in bot.received)
    message = json.loads(said.body)["event"]
    assert (message["type"], message["channel"], message["user"]) == ("message", "C0GENERAL", "U0ALICE")
    assert message["text"] == "found it, <@U0BOB|bob>" and message["channel_type"] == "channel"
    reaction = json.loads(reacted.body)["event"]
    assert reaction["type"] == "reaction_added" and reaction["item"] == {"type": "message", "channel": "C0GENERAL",
                                                                         "ts": message["ts"]}
    assert "already_reacted" in output  # Slack's client does not react twice
    assert shortcut.payload["type"] == "message_action" and shortcut.payload["message"]["ts"] == message["ts"]
    assert shortcut.payload["callback_id"] == "incident_timeline_add"


HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Waiting for you*"}},
                                   {"type": "actions", "elements": [
                                       {"type": "button", "action_id": "home_run_approve", "value": "7",
                                        "text": {"type": "plain_text", "text": "Approve"}}]}]}


def test_views_publish_checks_what_slack_checks(client: WebClient, server: SandboxServer) -> None:
    def refused(**kwargs: Any) -> dict[str, Any]:
        with pytest.raises(SlackApiError) as caught:
            client.views_publish(**kwargs)
        return dict(caught.value.response.data)

    assert refused(user_id="U0NOBODY", view=HOME)["error"] == "user_not_found"
    assert refused(user_id="U0BOB", view={**HOME, "type": "modal"})["error"] == "invalid_arguments"
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert "no more than 100 items" in json.dumps(refused(user_id="U0BOB", view=too_many))
    first = client.views_publish(user_id="U0BOB", view=HOME)["view"]
    again = client.views_publish(user_id="U0BOB", view={"type": "home", "blocks": [{"type": "divider"}] * 100})["view"]
    assert again["id"] == first["id"] and again["hash"] != first["hash"]  # one Home tab per person, replaced
    assert server.workspace.home("U0BOB").view["blocks"][0]["type"] == "divider"
    assert server.workspace.home("U0CAROL") is None


def test_opening_home_and_clicking_in_it_send_what_slack_sends(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    slack.open_home("U0BOB")  # nothing published yet: the event has no view
    view = client.views_publish(user_id="U0BOB", view=HOME)["view"]
    slack.open_home("U0BOB")
    slack.click_view("U0BOB", view["id"], "home_run_approve")
    first, second, click = bot.received
    assert all(verifies(r) for r in (first, second, click))
    assert json.loads(first.body)["event"]["type"] == "app_home_opened"
    assert json.loads(first.body)["event"]["tab"] == "home" and "view" not in json.loads(first.body)["event"]
    assert json.loads(second.body)["event"]["view"]["id"] == view["id"]
    payload = click.payload
    assert payload["container"] == {"type": "view", "view_id": view["id"]} and payload["view"]["type"] == "home"
    assert "response_url" not in payload and payload["actions"][0]["value"] == "7"
    with pytest.raises(AssertionError, match="is not open for U0CAROL"):
        slack.click_view("U0CAROL", view["id"], "home_run_approve")


def test_console_opens_the_home_tab_and_clicks_its_buttons(
    slack: SlackSimulator, bot: FakeBot, client: WebClient, server: SandboxServer
) -> None:
    def publish(request: Received) -> tuple[int, str]:
        client.views_publish(user_id="U0ALICE", view=HOME)
        return 200, ""

    bot.reply = publish
    output = run(server, slack, ":home\n1\n:quit\n")
    assert "┌ Home tab of @alice" in output and "│ *Waiting for you*" in output and "│ [1] Approve" in output
    opened, click = bot.received
    assert json.loads(opened.body)["event"]["type"] == "app_home_opened"
    assert click.payload["container"]["type"] == "view"
    assert click.payload["actions"][0]["action_id"] == "home_run_approve"
