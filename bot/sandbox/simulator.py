"""Slack's side of the conversation: requests to the bot, built as Slack builds them.

Slash commands are form-encoded; interactions are a form field `payload` holding JSON; Events API
deliveries are JSON envelopes. They reach the bot as signed `POST /slack/events` requests, or as
Socket Mode envelopes carrying the same payloads (see `transport`). Each request gets a fresh
trigger_id and response_url from the sandbox, and what the bot answers is applied the way Slack's
client applies it: a command's ack body shows as an ephemeral (or in-channel) message, a
view_submission's `response_action` acts on the modal. Stdlib HTTP only, so the simulator adds no
runtime dependency.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from bot.sandbox import elements
from bot.sandbox.errors import SlackError
from bot.sandbox.models import Channel, Ephemeral, Message, User, View
from bot.sandbox.remote import RemoteSandbox
from bot.sandbox.server import SandboxServer
from bot.sandbox.transport import BotResponse, HttpTransport, SocketTransport, Transport


@dataclass(frozen=True)
class Delivery:
    """One event as the app got it: the envelope (send it again to retry), the answer, and the message."""

    envelope: dict[str, Any]
    response: BotResponse
    message: Message

    @property
    def event_id(self) -> str:
        return str(self.envelope["event_id"])


class SlackSimulator:
    """``transport="http"`` POSTs signed requests to the bot at ``bot_url``; ``"socket"`` sends the
    same payloads as Socket Mode envelopes over the bot's open connection to ``server`` (then
    ``bot_url`` and ``signing_secret`` are unused: Slack signs nothing it sends over a socket).
    ``server`` is this process's sandbox, or a ``RemoteSandbox`` run by another (HTTP only)."""

    def __init__(self, bot_url: str, signing_secret: str, server: SandboxServer | RemoteSandbox, *,
                 timeout: float = 10.0, transport: Literal["http", "socket"] = "http") -> None:
        self.server = server
        self.workspace = server.workspace
        if transport == "socket" and not isinstance(server, SandboxServer):
            raise ValueError("Socket Mode envelopes go through a sandbox server in this process")
        self.transport: Transport = (HttpTransport(bot_url, signing_secret, timeout) if transport == "http"
                                     else SocketTransport(server.sockets))

    # Requests

    def command(
        self,
        user_id: str,
        channel_id: str,
        command: str,
        text: str = "",
        *,
        timestamp: str | int | None = None,
        signature: str | None = None,
    ) -> BotResponse:
        """A slash command; a non-empty ack body is shown to the user as Slack would show it."""
        channel = self._channel(channel_id)
        user = self._user(user_id)
        identity = self.workspace.identity
        form = {
            "token": identity.verification_token,
            "team_id": identity.team_id,
            "team_domain": identity.team_domain,
            "channel_id": channel.id,
            "channel_name": _channel_name(channel),
            "user_id": user_id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": identity.app_id,
            "is_enterprise_install": "false",
            "response_url": self.workspace.mint_response_url(channel.id, user_id),
            "trigger_id": self.workspace.mint_trigger_id(user_id),
        }
        response = self._post_form(form, timestamp, signature)
        if response.acked_in_time and response.body.strip():
            self._show_ack(channel.id, user_id, response)
        return response

    def click(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        *,
        value: str | None = None,
        thread_ts: str | None = None,
        timestamp: str | int | None = None,
        signature: str | None = None,
    ) -> BotResponse:
        """Click a button in a channel message or in one of the user's ephemeral messages."""
        channel = self._channel(channel_id)
        user = self._user(user_id)
        message, is_ephemeral = self._clickable_message(user_id, channel, message_ts)
        button = _pick_button(message, action_id, value)
        identity = self.workspace.identity
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel.id,
            "is_ephemeral": is_ephemeral,
        }
        thread_ts = thread_ts or (message.thread_ts if message.thread_ts != message.ts else None)
        if thread_ts:
            container["thread_ts"] = thread_ts
        action = {
            "action_id": button.action_id,
            "block_id": button.block_id,
            "text": {"type": "plain_text", "text": button.text, "emoji": True},
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        if button.value is not None:
            action["value"] = button.value
        if button.style:
            action["style"] = button.style
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_json(user_id, user.name),
            "api_app_id": identity.app_id,
            "token": identity.verification_token,
            "container": container,
            "trigger_id": self.workspace.mint_trigger_id(user_id),
            "team": {"id": identity.team_id, "domain": identity.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel.id, "name": _channel_name(channel)},
            "state": {"values": {}},
            "response_url": self.workspace.mint_response_url(
                channel.id, user_id, message_ts=message_ts, is_ephemeral=is_ephemeral
            ),
            "actions": [action],
        }
        if isinstance(message, Message):  # Slack leaves `message` out for ephemeral messages
            payload["message"] = message.to_slack(identity.team_id, identity.app_id)
        return self._post_form({"payload": json.dumps(payload)}, timestamp, signature)

    def open_home(self, user_id: str) -> BotResponse:
        """The user opens the app's Home tab: Slack sends `app_home_opened` (with the view it shows,
        if the app published one)."""
        self._user(user_id)
        event: dict[str, Any] = {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id[1:]}",
                                 "tab": "home"}
        home = self.workspace.home(user_id)
        if home is not None:
            identity = self.workspace.identity
            event["view"] = home.to_slack(identity.team_id, identity.app_id, identity.bot_id)
        return self.post_event(event)

    def click_view(self, user_id: str, view_id: str, action_id: str, *, value: str | None = None,
                   timestamp: str | int | None = None, signature: str | None = None) -> BotResponse:
        """Click a button in a view (the Home tab, a modal): `block_actions` with a `view` container,
        and no `response_url`, as Slack sends it (there is no channel to answer in)."""
        view = self.workspace.view(view_id)
        if view is None or view.closed or view.user != user_id:
            raise AssertionError(f"view {view_id} is not open for {user_id}")
        button = _pick_button_in(view.view.get("blocks", []), action_id, value, f"view {view_id}")
        identity = self.workspace.identity
        user = self._user(user_id)
        action: dict[str, Any] = {"action_id": button.action_id, "block_id": button.block_id, "type": "button",
                                  "text": {"type": "plain_text", "text": button.text, "emoji": True},
                                  "action_ts": f"{time.time():.6f}"}
        if button.value is not None:
            action["value"] = button.value
        payload = {
            "type": "block_actions",
            "user": self._user_json(user_id, user.name),
            "api_app_id": identity.app_id,
            "token": identity.verification_token,
            "container": {"type": "view", "view_id": view.id},
            "trigger_id": self.workspace.mint_trigger_id(user_id),
            "team": {"id": identity.team_id, "domain": identity.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view.to_slack(identity.team_id, identity.app_id, identity.bot_id),
            "actions": [action],
        }
        return self._post_form({"payload": json.dumps(payload)}, timestamp, signature)

    def submit_view(
        self,
        user_id: str,
        view_id: str,
        values: dict[str, dict[str, elements.StateInput]],
        *,
        timestamp: str | int | None = None,
        signature: str | None = None,
    ) -> BotResponse:
        """Submit an open modal with `values[block_id][action_id]`; the bot's response_action is applied."""
        view = self._open_view(user_id, view_id)
        state_values: dict[str, dict[str, Any]] = {}
        for field in elements.inputs(view.view.get("blocks", [])):
            value = values.get(field.block_id, {}).get(field.action_id)
            if elements.is_empty(value) and not field.optional:
                raise AssertionError(f"Slack would not submit: required field {field.label!r} is empty")
            state_values.setdefault(field.block_id, {})[field.action_id] = elements.state_value(field, value)
        payload = self._view_payload("view_submission", user_id, view, state_values)
        payload |= {"trigger_id": self.workspace.mint_trigger_id(user_id), "response_urls": []}
        response = self._post_form({"payload": json.dumps(payload)}, timestamp, signature)
        if response.acked_in_time:
            try:
                self.workspace.apply_view_response(view_id, response.json)
            except SlackError as error:
                raise AssertionError(f"Slack rejects the bot's view_submission answer: {error.body()}") from None
        return response

    def close_view(self, user_id: str, view_id: str) -> BotResponse | None:
        """The user dismisses a modal; the bot hears of it (view_closed) only if the view asked to be notified."""
        view = self._open_view(user_id, view_id)
        self.workspace.close_view(view_id)
        if not view.view.get("notify_on_close"):
            return None
        payload = self._view_payload("view_closed", user_id, view, {}) | {"is_cleared": False}
        return self._post_form({"payload": json.dumps(payload)}, None, None)

    def post_event(
        self,
        event: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: str | int | None = None,
        signature: str | None = None,
    ) -> BotResponse:
        """An Events API `event_callback` envelope; `retry_num` marks a redelivery as Slack does
        (`X-Slack-Retry-*` headers over HTTP, `retry_attempt` / `retry_reason` in a Socket Mode envelope)."""
        return self.transport.post_event(self.envelope(event), retry_num, retry_reason, timestamp, signature)

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        """The `event_callback` Slack wraps an event in, with a fresh `event_id`."""
        identity = self.workspace.identity
        return {
            "token": identity.verification_token,
            "team_id": identity.team_id,
            "api_app_id": identity.app_id,
            "event": {"event_ts": f"{time.time():.6f}", **event},
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": identity.team_id,
                    "user_id": identity.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def deliver(self, envelope: dict[str, Any], *, retry_num: int | None = None,
                retry_reason: str = "http_timeout") -> BotResponse:
        """Send an envelope again, as Slack retries one it did not see acknowledged: the same
        `event_id`, with `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`."""
        return self.transport.post_event(envelope, retry_num, retry_reason, None, None)

    # What people do in the client, and the events Slack sends the app about it (in-process sandbox)

    def say(self, user_id: str, channel_id: str, text: str, *, thread_ts: str | None = None) -> Delivery:
        """Post a message as a person; the app gets its `message` event."""
        channel = self._channel(channel_id)
        message = self.workspace.post_as(user_id, channel_id, text, thread_ts)
        event = {"type": "message", "channel": channel_id, "user": user_id, "text": text, "ts": message.ts,
                 "team": self.workspace.identity.team_id, "client_msg_id": str(uuid.uuid4()),
                 "channel_type": _channel_type(channel), "event_ts": message.ts}
        if message.thread_ts and message.thread_ts != message.ts:
            parent = next((m for m in self.workspace.messages(channel_id) if m.ts == message.thread_ts), None)
            event |= {"thread_ts": message.thread_ts, "parent_user_id": parent.user if parent else ""}
        return self._send(event, message)

    def edit(self, user_id: str, channel_id: str, ts: str, text: str) -> Delivery:
        """Edit one's message; the app gets `message` with subtype `message_changed`."""
        channel = self._channel(channel_id)
        before, after = self.workspace.edit_as(channel_id, ts, text)
        if before.user != user_id:
            raise AssertionError(f"{user_id} cannot edit a message of {before.user}")
        identity = self.workspace.identity
        changed = after.to_slack(identity.team_id, identity.app_id) | {"edited": {"user": user_id,
                                                                                "ts": self.workspace.next_ts()}}
        stamp = self.workspace.next_ts()
        event = {"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel_id,
                 "message": changed, "previous_message": before.to_slack(identity.team_id, identity.app_id),
                 "channel_type": _channel_type(channel), "ts": stamp, "event_ts": stamp}
        return self._send(event, after)

    def delete(self, user_id: str, channel_id: str, ts: str) -> Delivery:
        """Delete one's message; the app gets `message` with subtype `message_deleted`."""
        channel = self._channel(channel_id)
        gone = self.workspace.delete_as(channel_id, ts)
        if gone.user != user_id:
            raise AssertionError(f"{user_id} cannot delete a message of {gone.user}")
        identity = self.workspace.identity
        stamp = self.workspace.next_ts()
        event = {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel_id,
                 "deleted_ts": ts, "previous_message": gone.to_slack(identity.team_id, identity.app_id),
                 "channel_type": _channel_type(channel), "ts": stamp, "event_ts": stamp}
        return self._send(event, gone)

    def react(self, user_id: str, channel_id: str, ts: str, name: str, *, add: bool = True) -> Delivery:
        """Add (or with ``add=False`` remove) a reaction; the app gets `reaction_added` / `reaction_removed`."""
        try:
            message = self.workspace.react_as(user_id, channel_id, ts, name, add=add)
        except SlackError as error:
            raise AssertionError(f"Slack's client would not: {error.code}") from None
        event = {"type": "reaction_added" if add else "reaction_removed", "user": user_id, "reaction": name,
                 "item_user": message.user, "item": {"type": "message", "channel": channel_id, "ts": ts},
                 "event_ts": self.workspace.next_ts()}
        return self._send(event, message)

    def message_shortcut(self, user_id: str, channel_id: str, ts: str, callback_id: str, *,
                         timestamp: str | int | None = None, signature: str | None = None) -> BotResponse:
        """Run a message shortcut on a message (its "More actions" menu): a `message_action` payload."""
        channel = self._channel(channel_id)
        user = self._user(user_id)
        message = next((m for m in channel.messages if m.ts == ts), None)
        if message is None:
            raise AssertionError(f"no message {ts} in {channel_id}")
        identity = self.workspace.identity
        payload = {
            "type": "message_action",
            "token": identity.verification_token,
            "action_ts": f"{time.time():.6f}",
            "team": {"id": identity.team_id, "domain": identity.team_domain},
            "user": self._user_json(user_id, user.name),
            "channel": {"id": channel.id, "name": _channel_name(channel)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self.workspace.mint_trigger_id(user_id),
            "response_url": self.workspace.mint_response_url(channel.id, user_id),
            "message_ts": ts,
            "message": message.to_slack(identity.team_id, identity.app_id),
        }
        return self._post_form({"payload": json.dumps(payload)}, timestamp, signature)

    def _send(self, event: dict[str, Any], message: Message) -> Delivery:
        envelope = self.envelope(event)
        return Delivery(envelope, self.deliver(envelope), message)

    # Plumbing

    def _post_form(self, form: dict[str, str], timestamp: str | int | None, signature: str | None) -> BotResponse:
        """Every command and interaction goes out here, so a test can capture one and send it again."""
        return self.transport.post_form(form, timestamp, signature)

    def _show_ack(self, channel_id: str, user_id: str, response: BotResponse) -> None:
        body = response.json if response.json is not None else {"text": response.body}
        if not body.get("text") and not body.get("blocks"):
            return
        try:
            self.workspace.show_ack(channel_id, user_id, body)
        except SlackError as error:
            raise AssertionError(f"Slack rejects the bot's command ack: {error.body()}") from None

    def _channel(self, channel_id: str) -> Channel:
        channel = self.workspace.channel(channel_id)
        if channel is None:
            raise AssertionError(f"no channel {channel_id!r} in the sandbox workspace")
        return channel

    def _user(self, user_id: str) -> User:
        user = self.workspace.user(user_id)
        if user is None:
            raise AssertionError(f"no user {user_id!r} in the sandbox workspace")
        return user

    def _user_json(self, user_id: str, name: str) -> dict[str, str]:
        return {"id": user_id, "username": name, "name": name, "team_id": self.workspace.identity.team_id}

    def _clickable_message(self, user_id: str, channel: Channel, ts: str) -> tuple[Message | Ephemeral, bool]:
        message = next((m for m in channel.messages if m.ts == ts), None)
        if message is not None:
            return message, False
        ephemeral = next((e for e in self.workspace.ephemerals(user_id, channel.id) if e.ts == ts), None)
        if ephemeral is not None:
            return ephemeral, True
        raise AssertionError(f"no message {ts} in {channel.id} that {user_id} can see")

    def _open_view(self, user_id: str, view_id: str) -> View:
        view = self.workspace.view(view_id)
        if view is None or view.closed or view.user != user_id:
            raise AssertionError(f"view {view_id} is not open for {user_id}")
        return view

    def _view_payload(
        self, kind: str, user_id: str, view: View, state_values: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        identity = self.workspace.identity
        user = self._user(user_id)
        view_json = view.to_slack(identity.team_id, identity.app_id, identity.bot_id)
        view_json["state"] = {"values": state_values}
        return {
            "type": kind,
            "team": {"id": identity.team_id, "domain": identity.team_domain},
            "user": self._user_json(user_id, user.name),
            "api_app_id": identity.app_id,
            "token": identity.verification_token,
            "view": view_json,
            "enterprise": None,
            "is_enterprise_install": False,
        }


def _channel_type(channel: Channel) -> str:
    if channel.is_im:
        return "im"
    return "group" if channel.is_private else "channel"


def _channel_name(channel: Channel) -> str:
    if channel.is_im:
        return "directmessage"
    return "privategroup" if channel.is_private else channel.name


def _pick_button(message: Message | Ephemeral, action_id: str, value: str | None) -> elements.Button:
    return _pick_button_in(message.blocks, action_id, value, f"message {message.ts}")


def _pick_button_in(blocks: list[dict[str, Any]], action_id: str, value: str | None, where: str) -> elements.Button:
    available = elements.buttons(blocks)
    for button in available:
        if button.action_id == action_id and (value is None or button.value == value):
            return button
    listing = ", ".join(f"{b.text!r} (action_id={b.action_id}, value={b.value})" for b in available) or "none"
    raise AssertionError(f"no button {action_id!r} (value={value}) in {where}; buttons: {listing}")

