"""A terminal stand-in for the Slack client: act as a workspace user against the bot and the sandbox.

New messages in the current channel are printed as they land (a poller thread reads the workspace
every 0.3 s); buttons are numbered and clicked by typing the number; slash commands go through
the simulator, signed like Slack's, with ``@name`` and ``#channel`` in their text escaped as the
Slack client sends them for a command declared with ``should_escape: true``; a modal the bot opens
is filled in field by field, its prefilled values shown and kept on Enter.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from bot.sandbox import elements
from bot.sandbox.models import Channel, Ephemeral, Message, View
from bot.sandbox.render import block_lines, plain
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.transport import BotResponse

HELP = """\
  /command text   run a slash command in the current channel; in its text @bob, @oncall and
                  #platform-ops are sent as Slack sends mentions (<@U…|bob>, <!subteam^S…|@oncall>, <#C…|…>)
  3               click button [3]
  #name           (alone on the line) switch channel; #dm is your DM with the bot
  @name           (alone on the line) act as that user
  :say text       post a message here as yourself (the bot hears it, as through Slack's Events API)
  :react emoji    react to the latest message here (:react pushpin puts it on an incident's timeline)
  :shortcut       "Add to incident timeline" on the latest message here (a message shortcut)
  :users          people and user groups, with their handles
  :home           open the app's Home tab (what the bot published for you; its buttons get numbers)
  :channels       channels              :help   this help     :quit   leave
  In a modal: answer each field. A prefilled value is shown in [brackets]: Enter keeps it, - empties
  an optional field; Enter skips an empty optional field; :cancel closes the modal."""

_REFERENCE = re.compile(r"(?<![\w<@#!|/.-])([@#])([a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)")
_SPECIAL_MENTIONS = ("here", "channel", "everyone")

POLL_INTERVAL_S = 0.3
TIMELINE_SHORTCUT = "incident_timeline_add"  # manifest.yaml's message shortcut
RECENT_ON_SWITCH = 10
HOME_WAIT_S = 3.0  # how long to wait for the bot to publish the Home tab after opening or a click on it


class _Cancelled(Exception):
    """The user typed :cancel while filling a modal."""


class Console:
    def __init__(
        self,
        server: SandboxServer,
        simulator: SlackSimulator,
        user: str,
        stdin: TextIO,
        stdout: TextIO,
        *,
        modal_wait: float = 1.0,
    ) -> None:
        self.workspace = server.workspace
        self.simulator = simulator
        self.stdin, self.stdout = stdin, stdout
        self.modal_wait = modal_wait
        self.names = {u.id: u.name for u in self.workspace.users}
        self.bot_name = self.workspace.identity.bot_name
        self.user_id = self._user_id(user)
        channel = self.workspace.channel_by_name("incident-response") or self.workspace.channels[0]
        self.channel_id = channel.id
        self.buttons: dict[int, tuple[str | None, str, elements.Button]] = {}
        """Number → (channel, message ts, button), or (None, view ID, button) for the Home tab's."""
        self.seen: dict[tuple[str, str], str] = {}
        self.counts = {c.id: len(c.messages) for c in self.workspace.channels}
        self.lock = threading.RLock()
        self.stopped = threading.Event()

    # Output

    def say(self, text: str = "") -> None:
        with self.lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def _show(self, item: Message | Ephemeral, note: str = "") -> None:
        author = self.names.get(item.user, item.user) if isinstance(item, Message) else self.bot_name
        when = time.strftime("%H:%M:%S", time.localtime(float(item.ts)))
        thread = "  ↳ " if item.thread_ts and item.thread_ts != item.ts else ""
        private = " (only visible to you)" if isinstance(item, Ephemeral) else ""
        names = {**self.names, **{c.id: c.name for c in self.workspace.channels}}  # channels come and go
        self.say(f"{thread}[{when}] {author}{private}{note}: {plain(item.text, names)}")
        for line in block_lines(item.blocks, names):
            self.say(f"{thread}  │ {line}")
        labels = []
        for button in elements.buttons(item.blocks):
            number = len(self.buttons) + 1
            self.buttons[number] = (item.channel, item.ts, button)
            labels.append(f"[{number}] {button.text}")
        if labels:
            self.say(f"{thread}  │ " + "  ".join(labels))

    def refresh(self, *, recent: int | None = None) -> None:
        """Print what is new (or, after a switch, the last `recent` items) in the current channel."""
        with self.lock:
            messages = self.workspace.messages(self.channel_id)
            self.counts[self.channel_id] = len(messages)
            items: list[Message | Ephemeral] = [*messages, *self.workspace.ephemerals(self.user_id, self.channel_id)]
            items.sort(key=lambda i: i.ts)
            fresh = []
            for item in items:
                key = ("e" if isinstance(item, Ephemeral) else "m", item.ts)
                fingerprint = json.dumps([item.text, item.blocks], sort_keys=True)
                if self.seen.get(key) != fingerprint:
                    fresh.append((item, " (edited)" if key in self.seen else ""))
                self.seen[key] = fingerprint
            for item, note in fresh if recent is None else [(i, "") for i in items[-recent:]]:
                self._show(item, note)
            self._notify_elsewhere()

    def _notify_elsewhere(self) -> None:
        for channel in self.workspace.channels:
            if channel.id == self.channel_id or self.user_id not in channel.members:
                continue
            known = self.counts.get(channel.id, 0)
            if len(channel.messages) > known:
                self.say(f"· {len(channel.messages) - known} new in {self._label(channel)}")
            self.counts[channel.id] = len(channel.messages)

    def _label(self, channel: Channel) -> str:
        return "#dm" if channel.is_im else "#" + channel.name

    # Input

    def read(self, prompt: str) -> str:
        with self.lock:
            self.stdout.write(prompt)
            self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.strip()

    def run(self) -> None:
        self.say(f"Slack sandbox console — you are @{self.names[self.user_id]}. Type :help for help.")
        self._switch_channel(self.channel_id)
        poller = threading.Thread(target=self._poll, name="sandbox-console-poll", daemon=True)
        poller.start()
        try:
            while True:
                channel = self.workspace.channel(self.channel_id)
                prompt = f"{self.names[self.user_id]}@{self._label(channel) if channel else '?'}> "
                if not self.handle(self.read(prompt)):
                    break
        except EOFError:
            self.say()
        finally:
            self.stopped.set()
            poller.join()

    def _poll(self) -> None:
        while not self.stopped.wait(POLL_INTERVAL_S):
            self.refresh()

    def handle(self, line: str) -> bool:
        """Act on one input line; False means quit."""
        if line in (":quit", ":q"):
            return False
        if line == ":help":
            self.say(HELP)
        elif line == ":channels":
            self._list_channels()
        elif line == ":users":
            self._list_users()
        elif line == ":home":
            self._open_home()
        elif line.startswith((":say ", ":react ")) or line == ":shortcut":
            self._as_in_the_client(line)
        elif line.startswith("/"):
            command, _, text = line.partition(" ")
            escaped = self.escape(text.strip())
            self._act(lambda: self.simulator.command(self.user_id, self.channel_id, command, escaped))
        elif line.isdigit():
            self._click(int(line))
        elif line.startswith("#"):
            self._switch_to(line[1:])
        elif line.startswith("@"):
            self._switch_user(line[1:])
        elif line:
            self.say("? type :help for what the console understands")
        self.refresh()
        return True

    def _as_in_the_client(self, line: str) -> None:
        """A message, a reaction or a message shortcut, delivered to the bot as Slack would."""
        verb, _, rest = line.partition(" ")
        if verb == ":say":
            self._act(lambda: self.simulator.say(self.user_id, self.channel_id, self.escape(rest.strip())).response)
            return
        latest = next((m for m in reversed(self.workspace.messages(self.channel_id)) if not m.is_reply), None)
        if latest is None:
            self.say("  no message here yet")
        elif verb == ":react":
            name = rest.strip().strip(":")
            self._act(lambda: self.simulator.react(self.user_id, self.channel_id, latest.ts, name).response)
        else:
            self._act(lambda: self.simulator.message_shortcut(self.user_id, self.channel_id, latest.ts,
                                                              TIMELINE_SHORTCUT))

    def escape(self, text: str) -> str:
        """What the Slack client sends for ``text`` typed into a command declared with
        ``should_escape: true``: known people, user groups and channels become references; anything
        else (an unknown name, an address like bob@example.com) stays as typed."""

        def reference(match: re.Match[str]) -> str:
            sigil, name = match.groups()
            if sigil == "#":
                channel = self.workspace.channel_by_name(name)
                return f"<#{channel.id}|{channel.name}>" if channel and not channel.is_im else match[0]
            if name in _SPECIAL_MENTIONS:
                return f"<!{name}>"
            if (user := self.workspace.user_by_name(name)) is not None:
                return f"<@{user.id}|{user.name}>"
            if (group := self.workspace.usergroup_by_handle(name)) is not None:
                return f"<!subteam^{group.id}|@{group.handle}>"
            return match[0]

        return _REFERENCE.sub(reference, text)

    def _list_users(self) -> None:
        people = [u for u in self.workspace.users if not u.is_bot]
        width = max(len(u.name) for u in people) + 1
        self.say("  People (type @name in a command to mention them; @name alone to act as them):")
        for user in people:
            you = "  ← you" if user.id == self.user_id else ""
            self.say(f"  @{user.name:<{width}} {user.real_name}{you}")
        groups = self.workspace.usergroups
        if groups:
            width = max(len(g.handle) for g in groups) + 1
            self.say("  User groups:")
            for group in groups:
                members = ", ".join("@" + self.names.get(m, m) for m in group.users) or "nobody"
                self.say(f"  @{group.handle:<{width}} {group.name}: {members}")

    def _list_channels(self) -> None:
        for channel in self.workspace.channels:
            if channel.is_private and self.user_id not in channel.members:
                continue
            member = "member" if self.user_id in channel.members else "not a member"
            topic = f" — {channel.topic}" if channel.topic else ""
            self.say(f"  {self._label(channel)} ({member}, {len(channel.messages)} messages){topic}")

    def _switch_to(self, name: str) -> None:
        if name == "dm":
            channel = next((c for c in self.workspace.channels if c.is_im and c.im_user == self.user_id), None)
        else:
            channel = self.workspace.channel_by_name(name)
        if channel is None or (channel.is_private and self.user_id not in channel.members):
            self.say(f"no channel #{name} that you can see")
            return
        self._switch_channel(channel.id)

    def _switch_channel(self, channel_id: str) -> None:
        self.channel_id = channel_id
        channel = self.workspace.channel(channel_id)
        topic = f" — {channel.topic}" if channel and channel.topic else ""
        self.say(f"── {self._label(channel) if channel else channel_id}{topic} ──")
        self.refresh(recent=RECENT_ON_SWITCH)

    def _switch_user(self, name: str) -> None:
        user = self.workspace.user_by_name(name) or self.workspace.user(name)
        if user is None or user.is_bot:
            self.say(f"no user @{name}")
            return
        self.user_id = user.id
        self.say(f"now acting as @{user.name}")
        self._switch_channel(self.channel_id)

    def _user_id(self, name: str) -> str:
        user = self.workspace.user_by_name(name) or self.workspace.user(name)
        if user is None:
            raise ValueError(f"no user {name!r} in the sandbox workspace")
        return user.id

    def _click(self, number: int) -> None:
        if number not in self.buttons:
            self.say(f"no button [{number}]")
            return
        channel_id, where, button = self.buttons[number]
        if channel_id is None:  # a button of the Home tab: the bot answers by publishing it again
            before = self.workspace.home(self.user_id)
            self._act(lambda: self.simulator.click_view(self.user_id, where, button.action_id, value=button.value))
            self._show_home(before.hash if before else None)
            return
        self._act(lambda: self.simulator.click(self.user_id, channel_id, where, button.action_id, value=button.value))

    # The Home tab

    def _open_home(self) -> None:
        before = self.workspace.home(self.user_id)
        self._act(lambda: self.simulator.open_home(self.user_id))
        self._show_home(before.hash if before else None)

    def _show_home(self, old_hash: str | None) -> None:
        """Print the Home tab once the bot has published a new one (or the last one, if it has not)."""
        deadline = time.monotonic() + HOME_WAIT_S
        home = self.workspace.home(self.user_id)
        while (home is None or home.hash == old_hash) and time.monotonic() < deadline:
            time.sleep(0.05)
            home = self.workspace.home(self.user_id)
        if home is None:
            self.say("  the bot has published no Home tab for you")
            return
        names = {**self.names, **{c.id: c.name for c in self.workspace.channels}}
        self.say(f"┌ Home tab of @{self.names.get(self.user_id, self.user_id)}")
        blocks = home.view.get("blocks", [])
        for line in block_lines(blocks, names):
            self.say(f"│ {line}")
        labels = []
        for button in elements.buttons(blocks):
            number = len(self.buttons) + 1
            self.buttons[number] = (None, home.id, button)
            labels.append(f"[{number}] {button.text}")
        if labels:
            self.say("│ " + "  ".join(labels))
        self.say("└")

    # Requests and modals

    def _act(self, send: Callable[[], BotResponse]) -> None:
        """Send a command or click, report a failed ack, then fill in any modal the bot opens."""
        before = {v.id: v.hash for v in self.workspace.open_views(self.user_id)}
        try:
            response = send()
        except AssertionError as error:
            self.say(f"! {error}")
            return
        except OSError as error:
            self.say(f"! the bot is unreachable: {error}")
            return
        self._report(response)
        self.refresh()
        view = self._wait_for_view(before)
        if view is not None:
            self._fill(view)

    def _report(self, response: BotResponse) -> None:
        if response.status != 200:
            self.say(f"! the bot answered HTTP {response.status}: {response.body[:200]}")
        elif not response.acked_in_time:
            self.say(f"! no ack within 3 s ({response.elapsed:.1f} s): Slack shows the user a timeout error")

    def _wait_for_view(self, before: dict[str, str]) -> View | None:
        deadline = time.monotonic() + self.modal_wait
        while True:
            for view in reversed(self.workspace.open_views(self.user_id)):
                if before.get(view.id) != view.hash:
                    return view
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def _fill(self, view: View) -> None:
        while True:
            title = view.view.get("title", {}).get("text", "")
            self.say(f"┌ modal: {title}")
            for line in block_lines([b for b in view.view.get("blocks", []) if b.get("type") != "input"], self.names):
                self.say(f"│ {line}")
            try:
                values = self._ask_all(elements.inputs(view.view.get("blocks", [])))
            except _Cancelled:
                self.simulator.close_view(self.user_id, view.id)
                self.say("└ modal closed")
                return
            before = {v.id: v.hash for v in self.workspace.open_views(self.user_id)}
            try:
                response = self.simulator.submit_view(self.user_id, view.id, values)
            except AssertionError as error:
                self.say(f"! {error}")
                current = self.workspace.view(view.id)
                if current is None or current.closed:
                    return
                continue
            self._report(response)
            answer = response.json or {}
            if answer.get("response_action") == "errors":
                for block_id, message in answer.get("errors", {}).items():
                    self.say(f"│ ✗ {block_id}: {message}")
                view = self.workspace.view(view.id) or view
                continue
            following = next(
                (v for v in reversed(self.workspace.open_views(self.user_id)) if before.get(v.id) != v.hash), None
            )
            if following is None:
                self.say("└ submitted")
                return
            view = following

    def _ask_all(self, fields: list[elements.Input]) -> dict[str, dict[str, elements.StateInput]]:
        values: dict[str, dict[str, elements.StateInput]] = {}
        for field in fields:
            values.setdefault(field.block_id, {})[field.action_id] = self._ask(field)
        return values

    def _ask(self, field: elements.Input) -> elements.StateInput:
        choices = elements.options(field.element)
        for number, option in enumerate(choices, 1):
            self.say(f"│   {number}. {option.get('text', {}).get('text', option.get('value'))}")
        suffix = " (optional)" if field.optional else ""
        initial = elements.initial_value(field)
        shown = f" [{self._shown(field, initial)}]" if not elements.is_empty(initial) else ""
        while True:
            answer = self.read(f"│ {field.label}{suffix}{shown}: ")
            if answer == ":cancel":
                raise _Cancelled
            if not answer and shown:
                return initial
            if answer == "-" and field.optional:
                return None
            if not answer and field.optional:
                return None
            if not answer:
                self.say("│ required")
                continue
            try:
                return self._parse(field, answer, choices)
            except ValueError as error:
                self.say(f"│ {error}")

    def _parse(self, field: elements.Input, answer: str, choices: list[dict[str, Any]]) -> elements.StateInput:
        parts = [p.strip() for p in answer.split(",") if p.strip()]
        if choices:
            picked = [self._option(p, choices) for p in parts] or [self._option(answer, choices)]
            return picked if field.kind in ("multi_static_select", "checkboxes") else picked[0]
        if field.kind in ("users_select", "multi_users_select"):
            users = [self._user_id(p.removeprefix("@")) for p in parts] or [self._user_id(answer)]
            return users if field.kind.startswith("multi") else users[0]
        if field.kind in ("conversations_select", "channels_select"):
            channel = self.workspace.channel_by_name(answer)
            if channel is None:
                raise ValueError(f"no channel {answer}")
            return channel.id
        return answer

    def _shown(self, field: elements.Input, value: elements.StateInput) -> str:
        """A prefilled value as the person reads it: option labels, @names, #channels."""
        values = [value] if isinstance(value, str) else list(value or [])
        labels = {str(o.get("value")): o.get("text", {}).get("text", o.get("value"))
                  for o in elements.options(field.element)}
        channels = {c.id: c.name for c in self.workspace.channels}
        shown = []
        for item in values:
            if field.kind in ("users_select", "multi_users_select"):
                shown.append("@" + self.names.get(item, item))
            elif field.kind in ("conversations_select", "channels_select", "multi_conversations_select",
                                "multi_channels_select"):
                shown.append("#" + channels.get(item, item))
            else:
                shown.append(str(labels.get(item, item)))
        return ", ".join(shown)

    @staticmethod
    def _option(answer: str, choices: list[dict[str, Any]]) -> str:
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return str(choices[int(answer) - 1]["value"])
        if any(o.get("value") == answer for o in choices):
            return answer
        raise ValueError(f"pick 1 to {len(choices)}")


def run_console(
    server: SandboxServer,
    simulator: SlackSimulator,
    user: str = "alice",
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    *,
    modal_wait: float = 1.0,
) -> None:
    """Run until :quit or end of input. `modal_wait` is how long to watch for a modal after an action."""
    Console(server, simulator, user, stdin, stdout, modal_wait=modal_wait).run()
