"""`/incident`, its buttons and its modals: parse, ack, call the incident service, render."""

from __future__ import annotations

import json
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.incidents import commands as cmd
from bot.incidents import flows, service, views
from bot.incidents.service import Ctx, DeclareRequest, IncidentError
from bot.public import notices
from bot.runtime import Runtime
from handlers.replies import ack_with, answer, open_form
from storage.models import Incident

log = structlog.get_logger(__name__)


def register(app: AsyncApp, rt: Runtime) -> None:
    IncidentHandlers(rt).register(app)


class IncidentHandlers:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def register(self, app: AsyncApp) -> None:
        app.command("/incident")(self.command)
        app.action(views.CLAIM_ROLE)(self.claim_role)
        app.action(views.TICK)(self.tick)
        app.action(views.UNTICK)(self.untick)
        app.action(views.OPEN_UPDATE)(self.open_update)
        app.view(views.DECLARE_VIEW)(self.declare_submitted)
        app.view(views.UPDATE_VIEW)(self.update_submitted)

    # -- slash command ---------------------------------------------------------------------
    async def command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
        parsed = cmd.parse(command.get("text", ""))
        user, channel = command["user_id"], command["channel_id"]
        verb = (command.get("text") or "").strip().split(" ")[0].lower()
        match parsed:
            case cmd.ParseError(message):
                await ack(text=message)
            case cmd.Help():
                await ack(text=cmd.USAGE)
            case cmd.OpenDeclareModal():
                await ack()
                modal = views.declare_modal(self.rt.playbook, channel_id=channel)
                await open_form(client.views_open(trigger_id=command["trigger_id"], view=modal), respond)
            case cmd.Declare(severity, title):
                await self._declare(ack, respond, DeclareRequest(
                    severity=severity, title=title, declared_by=user, source_channel_id=channel,
                    response_url=command.get("response_url"),
                    request_key=f"trigger:{command['trigger_id']}" if command.get("trigger_id") else None))
            case cmd.ListIncidents():
                await ack_with(ack, respond, self.rt.run(flows.open_list, self.rt))
            case cmd.OpenUpdateModal():
                view = await answer_or_view(self.rt.run(flows.in_channel, self.rt, channel, verb, flows.update_modal))
                if isinstance(view, str):
                    await ack(text=view)
                    return
                await ack()
                await open_form(client.views_open(trigger_id=command["trigger_id"], view=view), respond)
            case cmd.OpenNoticeModal(kind):
                view = await answer_or_view(self.rt.run(flows.in_channel, self.rt, channel, verb,
                                                        lambda ctx, inc: notices.notice_form(ctx, inc, kind, user)))
                if isinstance(view, str):
                    await ack(text=view)
                    return
                await ack()
                await open_form(client.views_open(trigger_id=command["trigger_id"], view=view), respond)
            case _:
                await ack_with(ack, respond, self.rt.run(flows.in_channel, self.rt, channel, verb,
                                                         _channel_action(parsed, user)))

    async def _declare(self, ack: AsyncAck, respond: AsyncRespond, req: DeclareRequest) -> None:
        try:
            incident, created = await self.rt.run(flows.declare, self.rt, req)
        except Exception:
            log.exception("declare_failed")
            await ack(text="The incident could not be recorded; nothing was declared. Please try again.")
            return
        if not created:
            await ack(text=f"{incident.ref} was already declared from this request.")
            return
        label = self.rt.playbook.severity(incident.severity).label
        await ack(text=f"Declaring {incident.ref} ({label}): {incident.title}. Setting up the channel…")
        result = await self.rt.run_slow(self.rt.provisioner.provision, incident.id)
        if result.error:
            await respond(text=f"{incident.ref} is recorded, but Slack refused part of the set-up "
                          f"({result.error}). I will keep trying.", response_type="ephemeral",
                          replace_original=False)

    # -- buttons -----------------------------------------------------------------------------
    async def claim_role(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, lambda ctx, inc, key, user:
                           service.assign_role(ctx, inc, key, user, user, claim=True))

    async def tick(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, lambda ctx, inc, key, user:
                           service.tick(ctx, inc, key, user, done=True))

    async def untick(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, lambda ctx, inc, key, user:
                           service.tick(ctx, inc, key, user, done=False))

    async def _button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, fn: Any) -> None:
        await ack()
        action = body["actions"][0]
        parsed = views.parse_action_value(action.get("value", ""))
        user = body["user"]["id"]
        if parsed is None:
            await respond(text="That button is not one of mine.", response_type="ephemeral", replace_original=False)
            return
        incident_id, key = parsed
        text = await answer(self.rt.run(flows.by_id, self.rt, incident_id,
                                        lambda ctx, inc: fn(ctx, inc, key, user)))
        await respond(text=text, response_type="ephemeral", replace_original=False)

    async def open_update(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                          client: AsyncWebClient) -> None:
        await ack()
        value = body["actions"][0].get("value", "")
        if not value.isdigit():
            return
        view = await answer_or_view(self.rt.run(flows.by_id, self.rt, int(value), flows.update_modal))
        if isinstance(view, str):
            await respond(text=view, response_type="ephemeral", replace_original=False)
            return
        await open_form(client.views_open(trigger_id=body["trigger_id"], view=view), respond)

    # -- modals ------------------------------------------------------------------------------
    async def declare_submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        title = " ".join((_text(values, "title") or "").split())
        severity = cmd.parse_severity(_selected(values, "severity") or "")
        errors = {}
        if not title:
            errors["title"] = "Give the incident a title."
        elif len(title) > cmd.MAX_TITLE:
            errors["title"] = f"Keep the title under {cmd.MAX_TITLE} characters."
        if severity is None:
            errors["severity"] = "Pick a severity (P0–P3)."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        metadata = _metadata(view)
        req = DeclareRequest(severity=severity or "", title=title, declared_by=body["user"]["id"],
                             description=(_text(values, "description") or "")[:2900],
                             source_channel_id=metadata.get("channel_id"), request_key=f"view:{view['id']}")
        try:
            incident, created = await self.rt.run(flows.declare, self.rt, req)
        except Exception:
            log.exception("declare_failed")
            await ack(response_action="errors", errors={"title": "Could not record the incident; try again."})
            return
        await ack()
        if created:
            await self.rt.run_slow(self.rt.provisioner.provision, incident.id)

    async def update_submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        fields = cmd.UpdateFields(status=_selected(values, "status"), impact=_text(values, "impact"),
                                  actions=_text(values, "actions"), eta=_text(values, "eta") or "")
        errors = {}
        if fields.status not in views.STATUSES:
            errors["status"] = "Pick the current status."
        for block in ("impact", "actions"):
            if not (getattr(fields, block) or "").strip():
                errors[block] = f"Say something about the {block}."
        incident_id = _metadata(view).get("incident_id")
        if not isinstance(incident_id, int):
            errors["status"] = "This form is not attached to an incident; open it again from the channel."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        user = body["user"]["id"]
        reply = await answer(self.rt.run(flows.by_id, self.rt, incident_id,
                                         lambda ctx, inc: service.post_update(ctx, inc, fields, user)))
        if reply == "Update posted.":
            await ack()
        else:
            await ack(response_action="errors", errors={"status": reply})


async def answer_or_view(work: Any) -> dict | str:
    try:
        return await work
    except IncidentError as exc:
        return str(exc)


def _channel_action(parsed: cmd.Command, user: str) -> Any:
    """The service call for a command that runs inside an incident channel."""

    def run(ctx: Ctx, incident: Incident) -> str:
        if incident.status != "open" and not isinstance(parsed, cmd.Status | cmd.DraftPostmortem | cmd.Note):
            raise IncidentError(f"{incident.ref} is resolved; only `status`, `note` and `postmortem` still apply.")
        match parsed:
            case cmd.Assign(role, user_id):
                return service.assign_role(ctx, incident, role, user_id, user)
            case cmd.Acknowledge():
                return service.acknowledge(ctx, incident, user)
            case cmd.PostUpdate(fields):
                return service.post_update(ctx, incident, fields, user)
            case cmd.ChangeSeverity(severity):
                return service.change_severity(ctx, incident, severity, user)
            case cmd.Note(text):
                return service.add_note(ctx, incident, text, user)
            case cmd.SetPhase(phase):
                return service.set_phase(ctx, incident, phase, user)
            case cmd.Status():
                return flows.status(ctx, incident)
            case cmd.Resolve(summary):
                return service.resolve(ctx, incident, summary, user)
            case cmd.DraftPostmortem():
                service.draft_postmortem(ctx, incident, user)
                return "Post-mortem drafted and posted in this channel."
        raise IncidentError("That command does not apply here. Try `/incident help`.")

    return run


def _text(values: dict, block: str) -> str | None:
    return (values.get(block, {}).get("value") or {}).get("value")


def _selected(values: dict, block: str) -> str | None:
    option = (values.get(block, {}).get("value") or {}).get("selected_option")
    return option.get("value") if option else None


def _metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
