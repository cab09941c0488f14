"""`/oncall` (who is on call, my shifts, overrides and swaps; `contact …`, paging's) and `GET /oncall.ics` (the signed
calendar feeds)."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.commands import Help, ParseError
from bot.oncall import commands as cmd
from bot.oncall import feeds, flows
from bot.paging import flows as paging_flows
from bot.paging.commands import USAGE as contact_usage
from bot.runtime import Runtime
from handlers.listeners import command, route
from handlers.replies import answer_command


@command("/oncall")
async def oncall(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    user = command["user_id"]
    match cmd.parse_oncall(command.get("text", "")):
        case ParseError(message):
            await ack(text=message)
        case Help():
            await ack(text=cmd.USAGE)
        case cmd.Show():
            await answer_command(ack, respond, rt.run(flows.overview, rt.work, rt.feed_key))
        case cmd.Mine():
            await answer_command(ack, respond, rt.run(flows.mine, rt.work, user, rt.feed_key))
        case cmd.Override() as override:
            await answer_command(ack, respond, rt.run(flows.override, rt.work, override, user))
            rt.slow_pool.submit(rt.safely, rt.oncall.run_due)  # an override that starts now hands over now
        case cmd.Swap() as swap:
            await answer_command(ack, respond, rt.run(flows.swap, rt.work, swap, user))
            rt.slow_pool.submit(rt.safely, rt.oncall.run_due)
        case cmd.Contact(Help()):
            await ack(text=contact_usage)
        case cmd.Contact(contact):
            await answer_command(ack, respond, rt.run(paging_flows.contact, rt.work, rt.page_senders, user, contact))


@route("/oncall.ics", methods=["GET"])
async def feed(rt: Runtime, request: Request) -> Response:
    """A wrong or missing signature answers 404 like an unknown feed: a link either works or not."""
    subject = feeds.verified(rt.feed_key, dict(request.query_params))
    body = await rt.run(flows.feed, rt.work, subject) if subject else None
    if body is None:
        return PlainTextResponse("No such calendar.", status_code=404)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "private, max-age=300"})
