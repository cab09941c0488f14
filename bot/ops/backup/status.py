"""``/backup list`` and ``/backup status``: what is on disk, how old the newest backups are
against the recovery point objectives, and how the last restore test went."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.ops.backup.layout import Backup, Catalog, human_size
from playbooks.durations import format_duration
from playbooks.models import Playbook
from storage.db import session_scope
from storage.runs import Run


def show(playbook: Playbook, engine: Engine, now: datetime, what: str) -> str:
    catalog = Catalog(Path(playbook.backups.root))
    return backup_list(catalog, now) if what == "list" else backup_status(playbook, catalog, engine, now)


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


def backup_status(playbook: Playbook, catalog: Catalog, engine: Engine, now: datetime) -> str:
    objectives = playbook.backups.objectives
    backups = catalog.backups()
    newest_db = next((b for b in backups if b.kind in ("full", "database")), None)
    newest_files = next((b for b in backups if b.kind == "full"), None)
    lines = ["*Backup status*"]
    for label, backup, rpo in (("database", newest_db, objectives.database_rpo),
                               ("files", newest_files, objectives.files_rpo)):
        if backup is None:
            lines.append(f"⚠️ {label}: no backup yet (RPO {format_duration(rpo)})")
            continue
        age = _age(now, backup)
        mark = "✅" if age <= rpo else "⚠️"
        lines.append(f"{mark} {label}: last success `{backup.id}`, {format_duration(age)} ago "
                     f"(RPO {format_duration(rpo)}{'' if age <= rpo else ', EXCEEDED'})")
    with session_scope(engine) as session:
        test = session.exec(select(Run).where(col(Run.action) == "backup.restore_test")
                            .where(col(Run.status).in_(["succeeded", "failed"])).order_by(col(Run.id).desc())).first()
    if test is None:
        lines.append("⚠️ restore test: never run (`/backup restore-test`)")
    else:
        produced = json.loads(test.produced or "{}")
        detail = produced.get("result") or test.outcome
        when = test.finished_at.strftime("%Y-%m-%d %H:%M UTC") if test.finished_at else "?"
        lines.append(f"{'✅' if test.status == 'succeeded' else '❌'} restore test: {test.status} at {when}: {detail}")
    return "\n".join(lines)
