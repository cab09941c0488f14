"""Block Kit and texts for runs: the request, the approval prompt, progress and the summary.
Rendering only: no rules, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from bot.executor.approvals import describe
from bot.slack.people import who
from playbooks.actions import Action
from playbooks.durations import format_duration
from storage.runs import Run

APPROVE = "run_approve"
DENY = "run_deny"
CANCEL = "run_cancel"
RETRY = "run_retry"
ANSWER = "run_answer"  # action_id "run_answer:<choice>" (unique per message), value "<question id>:<choice>"
SECTION_LIMIT = 2900
_STATUS_ICON = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️", "denied": "🚫", "expired": "⌛"}


def _dicts(blocks: list[Block]) -> list[dict]:
    return [b.to_dict() for b in blocks]


def _cut(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def params_text(run: Run) -> str:
    params = json.loads(run.params)
    return " ".join(f"`{k}={v}`" for k, v in params.items()) or "no parameters"


def request_message(run: Run, action: Action, plan: Sequence[str]) -> tuple[str, list[dict]]:
    needed = run.approvals_needed
    gate = f"needs {needed} approval{'s' if needed != 1 else ''}" if needed else "runs at once"
    text = f"{who(run.requested_by)} requested `{run.action}` (run #{run.id}, {run.risk} risk, {gate})"
    if action.dry_run:
        steps = "\n".join(f"{i}. {title}" for i, title in enumerate(plan, 1)) or "_(no steps)_"
        shown = f"*Plan* ({params_text(run)}):\n{steps}"
    else:
        shown = f"*No dry run* for this action ({params_text(run)}): it does what its description says."
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_cut(f"*{text}*\n{action.description}"))),
        SectionBlock(text=MarkdownTextObject(text=_cut(shown))),
    ]
    return text, _dicts(blocks)


def approval_prompt(run: Run, action: Action, approvals: Sequence[str], now: datetime) -> tuple[str, list[dict]]:
    given = ", ".join(f"<@{u}>" for u in approvals) or "none yet"
    expires = format_duration(run.expires_at - now) if run.expires_at else "never"
    text = (f"Run #{run.id} needs {run.approvals_needed} approval(s) from {describe(action.approvals.approvers)} "
            f"(not the requester). Approved so far: {given}. Expires in {expires}.")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_cut(text))),
        ActionsBlock(elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=str(run.id), style="primary"),
            ButtonElement(text="Deny", action_id=DENY, value=str(run.id), style="danger"),
        ]),
    ]
    return text, _dicts(blocks)


def question(question_id: int, run: Run, text: str, choices: Sequence[tuple[str, str]]) -> tuple[str, list[dict]]:
    """A running run asks its requester (approvers may answer too); one button per choice."""
    asked = f"{who(run.requested_by)}, run #{run.id} `{run.action}` asks: {text}"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_cut(f"❓ {asked}"))),
        ActionsBlock(elements=[ButtonElement(text=label, action_id=f"{ANSWER}:{key}", value=f"{question_id}:{key}")
                               for key, label in choices]),
    ]
    return asked, _dicts(blocks)


def question_answered(text: str, label: str, user_id: str) -> tuple[str, list[dict]]:
    shown = f"❓ {text}\n➡️ <@{user_id}> answered: *{label}*"
    return shown, _dicts([SectionBlock(text=MarkdownTextObject(text=_cut(shown)))])


def approval_closed(text: str) -> tuple[str, list[dict]]:
    return text, _dicts([SectionBlock(text=MarkdownTextObject(text=_cut(text)))])


@dataclass
class StepState:
    title: str
    state: str = "waiting"  # waiting | running | done | failed | skipped
    seconds: float | None = None


def progress(run_id: int, action: str, steps: Sequence[StepState], note: str, running: bool) -> tuple[str, list[dict]]:
    icons = {"waiting": "▫️", "running": "⏳", "done": "✅", "failed": "❌", "skipped": "➖"}
    lines = []
    for step in steps:
        took = f" ({step.seconds:.1f} s)" if step.seconds is not None else ""
        lines.append(f"{icons[step.state]} {step.title}{took}")
    done = sum(1 for s in steps if s.state == "done")
    text = f"Run #{run_id} `{action}`: {done} of {len(steps)} steps done"
    body = f"*{text}*\n" + "\n".join(lines) + (f"\n_{note}_" if note else "")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_cut(body)))]
    if running:
        blocks.append(ActionsBlock(elements=[
            ButtonElement(text="Cancel", action_id=CANCEL, value=str(run_id), style="danger"),
        ]))
    return text, _dicts(blocks)


def summary(run: Run) -> tuple[str, list[dict]]:
    icon = _STATUS_ICON.get(run.status, "•")
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {_seconds(run.finished_at - run.started_at)}"
    text = f"{icon} Run #{run.id} `{run.action}` {run.status}{took}."
    lines = [text]
    if run.outcome:
        lines.append(run.outcome)
    produced = json.loads(run.produced or "{}")
    if produced:
        lines.append("\n".join(f"• {k}: {v}" for k, v in produced.items()))
    body = "\n".join(lines)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_cut(body)))]
    if run.status in ("failed", "cancelled"):
        blocks.append(ActionsBlock(elements=[ButtonElement(text="Request again", action_id=RETRY, value=str(run.id))]))
    return text, _dicts(blocks)


def failure_notice(run: Run) -> tuple[str, list[dict]]:
    """Loud for scheduled runs (nobody is watching their thread): it notifies the channel."""
    text = f"❌ `{run.action}` run #{run.id} {run.status}: {run.outcome or 'see the run thread'}"
    if run.source == "schedule":
        text = f"<!here> {text}"
    requested = f"Requested by {who(run.requested_by)} in <#{run.requested_in}>."
    return text, _dicts([
        SectionBlock(text=MarkdownTextObject(text=_cut(f"*{text}*"))),
        ContextBlock(elements=[MarkdownTextObject(text=requested)]),
    ])


def history(runs: Sequence[Run]) -> str:
    if not runs:
        return "No runs yet."
    lines = []
    for run in runs:
        icon = _STATUS_ICON.get(run.status, "•")
        when = run.requested_at.strftime("%Y-%m-%d %H:%M UTC")
        outcome = f" · {run.outcome[:120]}" if run.outcome else ""
        lines.append(f"{icon} #{run.id} `{run.action}` {params_text(run)} {run.status} · {when} · "
                     f"by {who(run.requested_by)}{outcome}")
    return "\n".join(lines)


def _seconds(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else format_duration(delta)


def action_list(actions: Iterable[Action]) -> str:
    lines = ["*Declared actions* (`/ops run <action> name=value …`):"]
    for action in sorted(actions, key=lambda a: a.name):
        params = ", ".join(f"{name}={spec.type}" + ("" if spec.required else "?") for name, spec in
                           action.parameters.items()) or "no parameters"
        gate = (f"{action.approvals_needed} approval(s) from {describe(action.approvals.approvers)}"
                if action.approvals_needed else "runs at once")
        if action.unavailable:
            lines.append(f"• `{action.name}` — *unavailable here*: {action.unavailable}")
        else:
            lines.append(f"• `{action.name}` ({action.risk}; {gate}) — {action.description} [{params}]")
    return "\n".join(lines)
