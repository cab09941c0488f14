"""Entry points for on-call: each runs one unit of work (``bot.work``) around ``service``."""

from __future__ import annotations

from bot.oncall import commands, feeds, service
from bot.work import Ctx, UnitOfWork


def overview(work: UnitOfWork, key: bytes) -> str:
    return work(lambda ctx: service.overview(ctx, key))


def mine(work: UnitOfWork, user: str, key: bytes) -> str:
    def render(ctx: Ctx) -> str:
        return service.mine(ctx, user, feeds.link(ctx.playbook.oncall.feed_url, key, user=user))
    return work(render)


def override(work: UnitOfWork, cmd: commands.Override, actor: str) -> str:
    return work(lambda ctx: service.override(ctx, cmd, actor))


def swap(work: UnitOfWork, cmd: commands.Swap, actor: str) -> str:
    return work(lambda ctx: service.swap(ctx, cmd, actor))


def feed(work: UnitOfWork, subject: str) -> bytes | None:
    """The calendar a verified link names (``schedule:<name>`` or ``user:<id>``); None for a
    schedule that is no longer in the pack."""
    def render(ctx: Ctx) -> bytes | None:
        settings = ctx.playbook.oncall
        kind, _, value = subject.partition(":")
        names = [value] if kind == "schedule" else list(settings.schedules)
        if kind == "schedule" and value not in settings.schedules:
            return None
        start, end = ctx.now - service.BEHIND, ctx.now + settings.horizon
        entries = [feeds.Entry(name, seg) for name in names for seg in service.final(ctx, name, start, end)
                   if kind == "schedule" or seg.user == value]
        entries.sort(key=lambda e: e.segment.start)
        title = f"On call: {value}" if kind == "schedule" else "My on-call shifts"
        return feeds.calendar(title, entries, ctx.now)
    return work(render)
