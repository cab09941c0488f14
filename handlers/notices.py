"""Customer notices in Slack: the drafting form's submission and the Incident Commander's Approve
button. `/incident notify` (in handlers/incident.py) opens the form."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.incidents import flows
from bot.public import notices, views
from bot.runtime import Runtime
from bot.slack import view_state
from handlers.listeners import action, view
from handlers.replies import Click, answer_click, answer_submission


@view(views.NOTICE_VIEW)
async def submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = view["state"]["values"]
    fields = {block: " ".join(view_state.text(values, block).split()) if block == "public_title"
              else view_state.text(values, block).strip() for block in ("public_title", "impact", "body")}
    errors = {block: "Write something here; customers read it." for block, text in fields.items() if not text}
    metadata = view_state.metadata(view)
    incident_id, kind = metadata.get("incident_id"), metadata.get("kind")
    if not isinstance(incident_id, int) or kind not in notices.KINDS:
        errors["public_title"] = "This form is not attached to an incident; open it again with /incident notify."
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    draft = notices.NoticeDraft(kind=str(kind), public_title=fields["public_title"][:notices.MAX_TITLE],
                                impact=fields["impact"][:notices.MAX_TEXT], body=fields["body"][:notices.MAX_TEXT])
    user = body["user"]["id"]
    await answer_submission(ack, rt.run(flows.by_id, rt.work, int(incident_id), lambda ctx, inc: notices.save_draft(
        ctx, inc, draft, user, f"view:{view['id']}"), must_be_open=False), "public_title")


@action(views.APPROVE_NOTICE)
async def approve(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """The button's value is ``<incident id>:<notice id>``."""

    async def approved(click: Click) -> str:
        notice_id = int(click.key) if click.key.isdigit() else 0
        return await rt.run(flows.by_id, rt.work, click.id, lambda ctx, inc: notices.approve(
            ctx, inc, notice_id, click.user), must_be_open=False)

    await answer_click(ack, respond, body, approved, keyed=True)
