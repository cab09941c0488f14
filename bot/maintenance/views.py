"""Texts for ``/maintenance status`` and help. Rendering only."""

from __future__ import annotations

from bot.maintenance.mode import ENABLE, Status
from bot.ops.maintenance.page import mrkdwn_escape
from bot.slack.people import who
from playbooks.maintenance import MaintenanceSettings


def status_text(status: Status, settings: MaintenanceSettings) -> str:
    state = status.state
    lines = []
    if state.on and state.last is not None:
        since = state.since.strftime("%Y-%m-%d %H:%M UTC") if state.since else "?"
        approved = f", approved by {', '.join(f'<@{u}>' for u in state.approvers)}" if state.approvers else ""
        lines.append(f"🛠️ Maintenance mode is *on* since {since}, enabled by {who(state.last.requested_by)} "
                     f"(run #{state.last.id}{approved}).")
        lines.append(f"Reason: {mrkdwn_escape(state.param('reason') or '—')} · ETA: {status.eta}")
    elif state.last is not None:
        since = state.last.finished_at.strftime("%Y-%m-%d %H:%M UTC") if state.last.finished_at else "?"
        lines.append(f"✅ Maintenance mode is *off* since {since} (disabled by {who(state.last.requested_by)}, "
                     f"run #{state.last.id}).")
    else:
        lines.append("✅ Maintenance mode is *off* (it has never been enabled by opsbot).")
    if state.in_flight is not None:
        doing = "enabling" if state.in_flight.action == ENABLE else "disabling"
        lines.append(f"⏳ Run #{state.in_flight.id} is {doing} it ({state.in_flight.status}), requested by "
                     f"{who(state.in_flight.requested_by)}.")
    queue = settings.queue.queue
    if status.queued is None:
        lines.append(f"Queue `{queue}`: depth unknown ({status.queue_problem}).")
    else:
        lines.append(f"Queue `{queue}`: {status.queued} job(s) waiting.")
    flag = "present" if status.flag_present else "absent"
    lines.append(f"Flag file {settings.flag_file}: {flag}.")
    if status.flag_present != state.on:
        lines.append("⚠️ The flag file does not match the recorded state: check the run threads.")
    return "\n".join(lines)
