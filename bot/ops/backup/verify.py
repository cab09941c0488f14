"""Verification of a finished backup: more than "the files are there". Checksums must match, every
archive must read to its end, and the dump must read whole: ``pg_restore -f /dev/null`` reads every
entry (``pg_restore --list`` reads only the table of contents and passes a half-truncated archive);
a plain dump must pass ``gzip -t`` and end with pg_dump's completion trailer. The seed's
``tar -tzf database.sql.gz`` is not used: a gzip of SQL is not a tar archive, so it never passes."""

from __future__ import annotations

from pathlib import Path

from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.ops.backup import archive
from bot.ops.backup.checksums import checksum_problems
from bot.ops.backup.dump import DIRECTORY_DUMP, PLAIN_DUMP, plain_dump_complete
from bot.ops.backup.layout import Catalog
from playbooks.backups import BackupSettings


def verify_folder(ctx: StepContext, folder: Path) -> None:
    """Checksums match, every archive reads to its end, the dump reads whole. Raises StepFailed."""
    problems = checksum_problems(folder)
    if problems:
        raise StepFailed(f"checksums do not match: {'; '.join(problems[:5])}")
    for path in sorted(folder.glob("*.tar.gz")):
        ctx.check()
        archive.read_through(path)
    if (folder / DIRECTORY_DUMP).is_dir():
        ctx.runner.process(["pg_restore", "--file", "/dev/null", str(folder / DIRECTORY_DUMP)])
    elif (folder / PLAIN_DUMP).is_file():
        ctx.runner.process(["gzip", "-t", str(folder / PLAIN_DUMP)])
        if not plain_dump_complete(folder / PLAIN_DUMP):
            raise StepFailed(f"{PLAIN_DUMP} lacks pg_dump's completion trailer: the dump was cut short")


def verify_plan(settings: BackupSettings, backup_id: str = "latest") -> Plan:
    """``/backup verify <id>`` and the daily verification: one step, nothing is changed."""
    catalog = Catalog(Path(settings.root))

    def verify(ctx: StepContext) -> None:
        backup = catalog.find(backup_id)
        ctx.produce("backup", backup.id)
        verify_folder(ctx, backup.path)
        ctx.produce("verified", "checksums, archives and dump")

    return Plan((Step(f"verify backup {backup_id} in {catalog.root}: checksums, archives read to the end, "
                      "dump read whole (pg_restore -f /dev/null or gzip -t + trailer)", verify),),
                summary="The backup verified.")
