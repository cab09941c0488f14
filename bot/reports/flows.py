"""The reports' entry points: ``/incident report``'s answer and the export's rows, each one unit of
work over ``bot.reports.queries``."""

from __future__ import annotations

from datetime import timedelta

from bot.reports import figures, queries, views
from bot.slack.reply import Reply
from bot.work import Ctx, UnitOfWork


def answer(work: UnitOfWork, days: int) -> Reply:
    """The last ``days`` days up to now, as an ephemeral Block Kit answer."""

    def build(ctx: Ctx) -> Reply:
        report = queries.report(ctx.session, ctx.playbook, ctx.now - timedelta(days=days), ctx.now)
        title = views.answer_title(report)
        return Reply(f"{title}: {views.summary(report)}", views.blocks(ctx.playbook, report, title))

    return work(build)


def export_rows(work: UnitOfWork, days: int | None) -> list[figures.IncidentFigures]:
    """Every incident (or those declared in the last ``days`` days), as it stands now."""
    return work(lambda ctx: queries.incident_rows(
        ctx.session, ctx.playbook, ctx.now - timedelta(days=days) if days else None, ctx.now))
