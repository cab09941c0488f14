"""Publishing one person's Home tab: read what it shows in one short unit of work, render it, and
hand it to Slack (``views.publish``). Called by ``bot.home.refresh.HomeRefresh`` in the background."""

from __future__ import annotations

from bot.home import service, views
from bot.slack.gateway import SlackGateway
from bot.work import UnitOfWork


def render(work: UnitOfWork, user: str, notice: str | None = None) -> dict:
    return work(lambda ctx: views.home_view(ctx.playbook, service.home(ctx, user), ctx.redact(notice or "") or None))


def publish(work: UnitOfWork, gateway: SlackGateway, user: str, notice: str | None = None) -> None:
    gateway.call("views.publish", {"user_id": user, "view": render(work, user, notice)})
