"""``/backup list`` and ``/backup status``: what is on disk, how old the newest backups are
against the recovery point objectives, and how the last restore test went."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.ops.backup.layout import Backup, Catalog, human_size
from bot.work import Ctx
from playbooks.backups import BackupSettings
from playbooks.durations import format_duration
from storage.runs import Run


def show(ctx: Ctx, what: str) -> str:
    catalog = Catalog(Path(ctx.playbook.backups.root))
    return backup_list(catalog, ctx.now) if what == "list" else backup_status(ctx)


def _age(now: datetime, backup: Backup) -> timedelta:
    return now - backup.created_at


def backup_list(catalog: Catalog, now: datetime, limit: int = 30) -> str:
    backups = catalog.backups()
    if not backups:
        return f"No backups in {catalog.root} yet. `/backup run` makes one."
    lines = [f"*Backups in {catalog.root}* (newest first, {len(backups)} in all):"]
    for backup in backups[:limit]:
        lines.append(f"• `{backup.id}` {backup.kind}, {human_size(backup.size())}, "
                     f"{format_duration(_age(now, backup))} ago")
    return "\n".join(lines)


@dataclass(frozen=True)
class Freshness:
    """The newest finished backup holding one kind of data, against that data's RPO."""

    data: str  # "database" or "files"
    last: Backup | None
    age: timedelta | None
    rpo: timedelta

    @property
    def within_rpo(self) -> bool:
        return self.age is not None and self.age <= self.rpo


def freshness(settings: BackupSettings, now: datetime) -> list[Freshness]:
    """Last success per kind of data, read from the backup folders (a folder with a backup's name is
    always finished: partial ones are named ``.partial-…``). A ``full`` backup holds both kinds."""
    backups = Catalog(Path(settings.root)).backups()
    objectives = settings.objectives
    result = []
    for data, kinds, rpo in (("database", ("full", "database"), objectives.database_rpo),
                             ("files", ("full",), objectives.files_rpo)):
        last = next((b for b in backups if b.kind in kinds), None)
        result.append(Freshness(data, last, _age(now, last) if last else None, rpo))
    return result


def backup_status(ctx: Ctx) -> str:
    lines = ["*Backup status*"]
    for item in freshness(ctx.playbook.backups, ctx.now):
        rpo = format_duration(item.rpo)
        if item.last is None or item.age is None:
            lines.append(f"⚠️ {item.data}: no backup yet (RPO {rpo})")
            continue
        mark = "✅" if item.within_rpo else "⚠️"
        lines.append(f"{mark} {item.data}: last success `{item.last.id}`, {format_duration(item.age)} ago "
                     f"(RPO {rpo}{'' if item.within_rpo else ', EXCEEDED'})")
    test = ctx.session.exec(select(Run).where(col(Run.action) == "backup.restore_test")
                            .where(col(Run.status).in_(["succeeded", "failed"])).order_by(col(Run.id).desc())).first()
    if test is None:
        lines.append("⚠️ restore test: never run (`/backup restore-test`)")
    else:
        produced = json.loads(test.produced or "{}")
        detail = produced.get("result") or test.outcome
        when = test.finished_at.strftime("%Y-%m-%d %H:%M UTC") if test.finished_at else "?"
        lines.append(f"{'✅' if test.status == 'succeeded' else '❌'} restore test: {test.status} at {when}: {detail}")
    return "\n".join(lines)
