"""Restoring a backup (the seed's recovery script, made safe). Checksums are verified first and any
mismatch refuses the whole restore before anything is touched. The dump is restored into a side
database and swapped in only once it restored completely, so a failed, cancelled or timed-out
restore leaves the current database as it was. Archives are extracted with safe extraction.
Stopping and starting services (and waiting for health) are the caller's ``before`` and ``after``
steps: runner steps configured in the playbook."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.ops.backup import archive, database
from bot.ops.backup.checksums import checksum_problems
from bot.ops.backup.layout import Backup, Catalog
from playbooks.backups import BackupSettings
from playbooks.durations import format_duration

SIDE_SUFFIX = "_opsbot_restoring"


def side_name(target: str) -> str:
    """Where a dump is restored before it replaces ``target`` (PostgreSQL names: at most 63 bytes)."""
    return target[: 63 - len(SIDE_SUFFIX)] + SIDE_SUFFIX


def restore_dump(ctx: StepContext, conn: database.Connection, backup: Backup, target: str) -> None:
    """(Re)create ``target`` empty and restore the backup's dump into it: ``pg_restore -j`` for a
    directory dump, ``gunzip | psql`` (pipefail, ON_ERROR_STOP) for plain SQL."""
    manifest = backup.manifest()
    if manifest.dump is None:
        raise StepFailed(f"backup {backup.id} holds no database dump")
    database.recreate_database(conn, target)
    if manifest.dump_format == "directory":
        ctx.runner.process(["pg_restore", f"--jobs={conn.source.jobs}", "--no-owner", "--exit-on-error",
                            "--dbname", target, str(backup.path / manifest.dump)], env=conn.env())
    else:
        ctx.runner.pipeline([["gunzip", "-c", str(backup.path / manifest.dump)],
                             ["psql", "--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1", "--dbname", target]],
                            stdout=Path("/dev/null"), env=conn.env())


@dataclass
class _Clock:
    started: float | None = None


def restore_plan(settings: BackupSettings, backup_id: str, *, database_name: str | None = None,
                 before: Sequence[Step] = (), after: Sequence[Step] = ()) -> Plan:
    """``/backup restore <id> [database=<name>]``.

    Without ``database_name`` this is a recovery: the configured database is replaced and the
    archives are extracted into ``restore.files_target``. With it, the data is copied into a new
    database (refused if it exists) and no file is touched. ``before`` runs after the checksums
    passed and before any data is touched (stop services); ``after`` runs once the data is back
    (start services, wait for health). The plan is built at request time: an unknown backup id is
    refused before anyone is asked to approve."""
    catalog = Catalog(Path(settings.root))
    backup = catalog.find(backup_id)
    manifest = backup.manifest()
    target = database_name or settings.database.name
    replacing = target == settings.database.name
    restoring_files = database_name is None and bool(manifest.archives)
    config = settings.restore
    objective = settings.objectives.full_rto if restoring_files else settings.objectives.database_rto
    side = side_name(target)
    clock = _Clock()

    def connection() -> database.Connection:
        return database.Connection.of(settings.database)

    def verify(ctx: StepContext) -> None:
        clock.started = time.monotonic()
        problems = checksum_problems(backup.path)
        if problems:
            raise StepFailed(f"backup {backup.id} fails its checksums, nothing was restored: {'; '.join(problems[:5])}")

    def restore_db(ctx: StepContext) -> None:
        conn = connection()
        if not replacing and database.database_exists(conn, target):
            raise StepFailed(f"database {target} already exists; restore into a new name, or into "
                             f"{settings.database.name} to replace it")
        restore_dump(ctx, conn, backup, side)
        ctx.check()  # a Cancel that came during the restore still leaves the current database alone
        database.replace_database(conn, side, target)

    def extract(name: str, file: str) -> Step:
        def run(ctx: StepContext) -> None:
            done = archive.extract_safely(backup.path / file, Path(config.files_target))
            ctx.note(f"{name}: {done.members} entries")
            if done.skipped_links:
                ctx.produce(f"{name}: links not created", f"{len(done.skipped_links)} symbolic link(s) pointing "
                            f"outside {config.files_target}: {', '.join(done.skipped_links[:5])}")

        return Step(f"extract {file} into {config.files_target} (safe extraction: an absolute path, a '..' or a "
                    "hard link out refuses the whole archive; symbolic links out are not created)", run)

    def checks(ctx: StepContext) -> None:
        for number, result in enumerate(database.run_checks(connection(), target, config.checks), start=1):
            ctx.note(result)
            ctx.produce(f"check {number}", result)

    def report(ctx: StepContext) -> None:
        took = time.monotonic() - (clock.started or time.monotonic())
        verdict = "within" if took <= objective.total_seconds() else "OVER"
        ctx.produce("recovery time", f"{took:.1f} s ({verdict} the RTO of {format_duration(objective)})")

    def cleanup() -> None:
        """A restore that did not finish leaves no side database behind (the current one is untouched)."""
        if manifest.dump:
            with suppress(Exception):  # the server may be why it failed; the run already says so
                database.drop_database(connection(), side)

    db = settings.database
    how = f"pg_restore -j{db.jobs}" if manifest.dump_format == "directory" else "gunzip | psql"
    steps = [Step(f"verify backup {backup.id}'s checksums (SHA-256 of every file); refuse on any mismatch", verify)]
    steps += before
    if manifest.dump:
        swap = (f"then replace database {target} with it" if replacing else f"then rename it to {target} "
                "(refused if that database exists)")
        steps.append(Step(f"{how} {backup.id} into a new database {side} at {db.host}:{db.port}, {swap}",
                          restore_db))
    if restoring_files:
        steps += [extract(name, file) for name, file in manifest.archives.items()]
    steps += after
    if config.checks and manifest.dump:
        steps.append(Step(f"post-recovery checks on {target} (read-only): " + "; ".join(config.checks), checks))
    steps.append(Step(f"report the recovery time against the RTO ({format_duration(objective)})", report))
    return Plan(tuple(steps), summary=f"Restored {backup.id} into {target}.", cleanup=cleanup, pinned=True)
