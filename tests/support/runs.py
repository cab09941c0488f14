"""Helpers for executor tests: a playbook override with command actions, and reading runs."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, col, select

from storage.runs import Run
from tests.support.bot import BotUnderTest
from tests.support.stack import StackBot
from tests.support.waiting import eventually

DEMO_ACTIONS = """
demo.echo:
  description: Print a word
  operation: command
  argv: [echo, "{word}"]
  parameters:
    word: {type: string, pattern: "[a-zA-Z0-9_-]+", default: hello}
  risk: low
  timeout: 1m
demo.sleep:
  description: Sleep (holds the demo lock)
  operation: command
  argv: [sleep, "{seconds}"]
  parameters:
    seconds: {type: integer, minimum: 0, maximum: 600, default: 30}
  risk: high
  approvals:
    approvers: ["@platform-ops-lead", U0DAVE]
  lock: demo
  timeout: 30s
demo.incident_fix:
  description: Something only the incident's commander may approve
  operation: command
  argv: [echo, fixed]
  risk: high
  approvals:
    approvers: ["role:incident_commander"]
  timeout: 1m
demo.pwd:
  description: Where am I
  operation: command
  argv: [pwd]
  cwd: /tmp
  dry_run: false
  risk: low
  timeout: 1m
demo.hang:
  description: Hangs past its timeout
  operation: command
  argv: [sleep, "60"]
  risk: low
  timeout: 2s
demo.elsewhere:
  description: Something this machine cannot do
  operation: command
  argv: [echo, elsewhere]
  risk: low
  timeout: 1m
  unavailable: "it needs a Docker Engine, and this one has none"
demo.critical:
  description: A critical no-op
  operation: command
  argv: [echo, critical]
  risk: critical
  approvals:
    approvers: ["@platform-ops-lead", "@team-leads", U0KIM]
  channels: ["#platform-ops"]
  timeout: 1m
"""


def demo_pack(folder: Path, schedules: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "actions.yaml").write_text(DEMO_ACTIONS)
    (folder / "schedules.yaml").write_text(schedules)
    return folder


def runs(bot: BotUnderTest | StackBot) -> list[Run]:
    with Session(bot.engine) as session:
        return list(session.exec(select(Run).order_by(col(Run.id))).all())


def run(bot: BotUnderTest | StackBot, run_id: int) -> Run:
    with Session(bot.engine) as session:
        found = session.get(Run, run_id)
        assert found is not None
        return found


def wait_status(bot: BotUnderTest | StackBot, run_id: int, *statuses: str, timeout: float = 15) -> Run:
    return eventually(lambda: (r := run(bot, run_id)).status in statuses and r, timeout=timeout,
                      what=f"run #{run_id} to be {' or '.join(statuses)}")


def button_message(bot: BotUnderTest | StackBot, channel_id: str, action_id: str, value: str):
    """The message in the channel (threads included) carrying that button."""
    def find():
        for message in bot.workspace.messages(channel_id):
            for block in message.blocks:
                for element in block.get("elements", []) or []:
                    if isinstance(element, dict) and element.get("action_id") == action_id \
                            and element.get("value") == value:
                        return message
        return None

    return eventually(find, timeout=30, what=f"a message with button {action_id}={value}")
