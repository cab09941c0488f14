"""Customer notices in Slack: the drafting form's submission and the Incident Commander's Approve
button. `/incident notify` (in handlers/incident.py) opens the form."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.incidents import flows
from bot.public import notices, views
from bot.runtime import Runtime
from handlers.incident import _metadata, _text
from handlers.replies import answer


def register(app: AsyncApp, rt: Runtime) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        fields = {block: " ".join((_text(values, block) or "").split()) if block == "public_title"
                  else (_text(values, block) or "").strip() for block in ("public_title", "impact", "body")}
        errors = {block: "Write something here; customers read it." for block, text in fields.items() if not text}
        metadata = _metadata(view)
        incident_id, kind = metadata.get("incident_id"), metadata.get("kind")
        if not isinstance(incident_id, int) or kind not in notices.KINDS:
            errors["public_title"] = "This form is not attached to an incident; open it again with /incident notify."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        draft = notices.NoticeDraft(kind=str(kind), public_title=fields["public_title"][:notices.MAX_TITLE],
                                    impact=fields["impact"][:notices.MAX_TEXT], body=fields["body"][:notices.MAX_TEXT])
        user = body["user"]["id"]
        reply = await answer(rt.run(flows.by_id, rt, int(incident_id), lambda ctx, inc: notices.save_draft(
            ctx, inc, draft, user, f"view:{view['id']}") and "ok", must_be_open=False))
        if reply == "ok":
            await ack()
        else:
            await ack(response_action="errors", errors={"public_title": reply})

    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        parsed = views.parse_value(body["actions"][0].get("value", ""))
        if parsed is None:
            await respond(text="That button is not one of mine.", response_type="ephemeral", replace_original=False)
            return
        incident_id, notice_id = parsed
        user = body["user"]["id"]
        text = await answer(rt.run(flows.by_id, rt, incident_id,
                                   lambda ctx, inc: notices.approve(ctx, inc, notice_id, user), must_be_open=False))
        await respond(text=text, response_type="ephemeral", replace_original=False)

    app.view(views.NOTICE_VIEW)(submitted)
    app.action(views.APPROVE_NOTICE)(approve)
