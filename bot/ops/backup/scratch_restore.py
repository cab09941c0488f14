"""The weekly restore test: a backup is only as good as its last successful restore. The latest
backup with a dump is restored into a scratch database and every table's row count and content
checksum is compared with what the manifest recorded at dump time (read in the dump's own
snapshot, so the two describe the same instant). The scratch database is dropped afterwards,
whatever happened."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.ops.backup import database
from bot.ops.backup.checksums import checksum_problems
from bot.ops.backup.layout import Backup, Catalog, TableStats
from bot.ops.backup.restore import restore_dump
from playbooks.backups import BackupSettings


def table_differences(expected: dict[str, TableStats], actual: dict[str, TableStats]) -> list[str]:
    """Every table that is missing, extra, or differs in rows or contents (empty: identical)."""
    return [difference for name in sorted(set(expected) | set(actual))
            if (difference := _difference(name, expected.get(name), actual.get(name)))]


def _difference(name: str, expected: TableStats | None, actual: TableStats | None) -> str | None:
    if expected is None:
        return f"{name}: not in the source at dump time"
    if actual is None:
        return f"{name}: missing after the restore"
    if actual.rows != expected.rows:
        return f"{name}: {expected.rows} rows at dump time, {actual.rows} restored"
    if actual.checksum != expected.checksum:
        return f"{name}: contents differ"
    return None


def restore_test_plan(settings: BackupSettings) -> Plan:
    catalog = Catalog(Path(settings.root))
    scratch = settings.scratch_database
    picked: list[Backup] = []

    def connection() -> database.Connection:
        return database.Connection.of(settings.database)

    def pick(ctx: StepContext) -> None:
        candidates = [b for b in catalog.backups() if b.manifest().dump]
        if not candidates:
            raise StepFailed(f"there is no backup with a database dump in {catalog.root} yet")
        backup = candidates[0]
        picked.append(backup)
        ctx.produce("backup", backup.id)
        problems = checksum_problems(backup.path)
        if problems:
            raise StepFailed(f"backup {backup.id} fails its checksums: {'; '.join(problems[:5])}")

    def restore(ctx: StepContext) -> None:
        restore_dump(ctx, connection(), picked[0], scratch)

    def compare(ctx: StepContext) -> None:
        expected = picked[0].manifest().tables
        if not expected:
            raise StepFailed("the backup recorded no table statistics to compare with")
        with connection().connect(scratch) as db:
            actual = database.table_stats(db, {name: stats.method for name, stats in expected.items()})
        differences = table_differences(expected, actual)
        if differences:
            raise StepFailed("the restored database differs: " + "; ".join(differences[:5]))
        rows = sum(s.rows for s in expected.values())
        ctx.produce("result", f"identical: {len(expected)} tables, {rows} rows, contents checksummed")

    def drop(ctx: StepContext) -> None:
        database.drop_database(connection(), scratch)

    def cleanup() -> None:  # also after a failed comparison: the scratch copy is not kept
        with suppress(Exception):  # the server may be why the run failed; the run says so already
            database.drop_database(connection(), scratch)

    return Plan((
        Step(f"pick the latest backup with a dump in {catalog.root} and check its checksums", pick),
        Step(f"recreate scratch database {scratch} and restore the dump into it", restore),
        Step("compare every table's row count and content checksum with the source at dump time", compare),
        Step(f"drop {scratch}", drop),
    ), summary="The latest backup restores to an identical database.", cleanup=cleanup)
