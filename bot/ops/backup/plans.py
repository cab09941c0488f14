"""The backup operations as plans of titled steps. Each is a function from typed parameters and
the playbook's ``BackupSettings`` to a ``Plan`` (``backup_plan``, ``verify_plan``, ``restore_plan``,
``restore_test_plan``, ``prune_plan``); the ``@operation`` wrappers at the end turn an action's
validated parameters into those calls. The titles are the dry run approvers read, so each says
exactly what will happen, with resolved names and paths."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.executor.runner_steps import to_steps
from bot.ops.backup import archive, copies, database, retention
from bot.ops.backup.checksums import write_checksums
from bot.ops.backup.dump import DIRECTORY_DUMP, PLAIN_DUMP, dump_database
from bot.ops.backup.layout import Backup, Catalog, Manifest, human_size
from bot.ops.backup.restore import restore_plan
from bot.ops.backup.scratch_restore import restore_test_plan
from bot.ops.backup.verify import verify_folder, verify_plan
from bot.ops.operation import OpsEnv, operation
from playbooks.actions import ParamValue
from playbooks.backups import BackupSettings

Kind = Literal["full", "database"]
DumpFormat = Literal["directory", "plain"]


def _catalog(settings: BackupSettings) -> Catalog:
    return Catalog(Path(settings.root))


# -- backup.run -----------------------------------------------------------------------------------
@dataclass
class _Building:
    staging: Path | None = None
    manifest: Manifest | None = None
    backup: Backup | None = None


def backup_plan(settings: BackupSettings, *, now: datetime, kind: Kind = "full", fmt: DumpFormat | None = None) -> Plan:
    """``/backup run``: dump (and for ``full``, the archives), seal with checksums, verify, publish
    by one rename, then the secondary and offsite copies. A failed run removes its partial folder."""
    fmt = fmt or settings.database.format
    catalog = _catalog(settings)
    backup_id = catalog.free_id(now, kind)
    conn_desc = f"{settings.database.name} at {settings.database.host}:{settings.database.port}"
    state = _Building()

    def prepare(ctx: StepContext) -> None:
        state.staging = catalog.staging(backup_id)
        state.manifest = Manifest(id=backup_id, kind=kind, created_at=now.isoformat())

    def dump(ctx: StepContext) -> None:
        assert state.staging and state.manifest
        dump_database(ctx, database.Connection.of(settings.database), state.staging, state.manifest, fmt)

    def make_archive(name: str) -> Step:
        spec = settings.archives[name]

        def run(ctx: StepContext) -> None:
            assert state.staging and state.manifest
            made = archive.create_archive(ctx, name, spec, state.staging / f"{name}.tar.gz")
            state.manifest.archives[name] = f"{name}.tar.gz"
            ctx.note(f"{name}: {made.files} files")
            if made.outward_links:
                ctx.produce(f"{name}: links out", f"{len(made.outward_links)} symbolic link(s) point outside the "
                            f"archive and a restore will not create them, e.g. {made.outward_links[0]}")

        excluding = f" (excluding {', '.join(spec.exclude)})" if spec.exclude else ""
        return Step(f"archive {name}: {', '.join(spec.paths)}{excluding} → {name}.tar.gz", run)

    def seal(ctx: StepContext) -> None:
        assert state.staging and state.manifest
        state.manifest.write(state.staging)
        ctx.produce("files", str(write_checksums(state.staging)))

    def check(ctx: StepContext) -> None:
        assert state.staging
        verify_folder(ctx, state.staging)

    def publish(ctx: StepContext) -> None:
        assert state.staging
        state.backup = catalog.publish(state.staging, backup_id)
        state.staging = None
        ctx.produce("backup", backup_id)
        ctx.produce("size", human_size(state.backup.size()))

    def secondary(ctx: StepContext) -> None:
        assert state.backup and settings.secondary
        ctx.produce("secondary copy", str(copies.copy_to_secondary(state.backup, Path(settings.secondary))))

    def offsite(ctx: StepContext) -> None:
        assert state.backup and settings.offsite
        path = copies.copy_offsite(state.backup, Path(settings.offsite.folder), Path(settings.offsite.key_file))
        ctx.produce("offsite copy", str(path))

    def forget_listing(ctx: StepContext) -> None:
        extra = len(retention.to_forget(catalog.backups(), settings.retention))
        if extra:
            ctx.produce("retention", f"{extra} backup(s) beyond the policy; /backup prune deletes them")

    db = settings.database
    dump_title = (f"pg_dump -Fd -j{db.jobs} -Z{db.compression} {conn_desc} → {DIRECTORY_DUMP}/ "
                  "(and row counts + checksums of every table, same snapshot)" if fmt == "directory" else
                  f"pg_dump {conn_desc} | gzip -6 → {PLAIN_DUMP} (pipefail; with table row counts + checksums)")
    if db.container:
        dump_title = (f"docker exec {db.container} pg_dump {db.name} (at {db.host}:{db.port} inside the container) "
                      f"then gzip -6 → {PLAIN_DUMP}")
    steps = [Step(f"prepare {catalog.root}/.partial-{backup_id}", prepare), Step(dump_title, dump)]
    if kind == "full":
        steps += [make_archive(name) for name in settings.archives]
    steps += [
        Step("write manifest.json and checksums.txt (SHA-256 of every file)", seal),
        Step("verify: checksums, every archive read to its end, the dump read whole", check),
        Step(f"publish as {catalog.root}/{backup_id}", publish),
    ]
    steps = [Step(step.title, _space_checked(step.action, catalog.root, backup_id)) for step in steps]
    if settings.secondary:
        steps.append(Step(f"copy to {settings.secondary} and verify the copy's checksums", secondary))
    if settings.offsite:
        steps.append(Step(f"encrypt (AES-256-GCM) to {settings.offsite.folder}/{backup_id}.tar.enc and "
                          "decrypt it back to verify", offsite))
    steps.append(Step("list what the retention policy would prune (nothing is deleted)", forget_listing))

    def cleanup() -> None:
        if state.staging is not None:
            shutil.rmtree(state.staging, ignore_errors=True)

    return Plan(tuple(steps), summary=f"Backup {backup_id} is complete and verified.", cleanup=cleanup)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _space_checked(action: Callable[[StepContext], None], folder: Path,
                   backup_id: str) -> Callable[[StepContext], None]:
    """A full backup disk (``No space left on device`` from pg_dump, tar or our own writes) as one
    clear failure that names the folder, instead of a tool's last line or an unexpected OSError.
    What was half-written is removed by the plan's cleanup; a published backup is never touched.
    (The copies say so themselves: ``copying to … failed: No space left on device``.)"""

    def run(ctx: StepContext) -> None:
        try:
            action(ctx)
        except OSError as exc:
            if exc.errno not in _DISK_FULL:
                raise
            raise StepFailed(_full(folder, backup_id)) from None
        except StepFailed as exc:
            if "No space left on device" not in str(exc) and "Disk quota exceeded" not in str(exc):
                raise
            raise StepFailed(f"{_full(folder, backup_id)} ({exc})") from None

    return run


def _full(folder: Path, backup_id: str) -> str:
    try:
        free = human_size(shutil.disk_usage(folder).free)
    except OSError:
        free = "unknown"
    return (f"The disk holding {folder} is full ({free} free), so backup {backup_id} was not made: what it had "
            "written is removed and earlier backups are untouched. Free some space (`/backup prune`) and run it again")


# -- retention ------------------------------------------------------------------------------------
@dataclass
class _Pruning:
    forget: list[Backup] = field(default_factory=list)


def prune_plan(settings: BackupSettings, *, dry_run: bool) -> Plan:
    """Retention: delete what restic's ``forget`` would (with the secondary copies and unfinished
    leftovers); ``dry_run`` lists the same decision and deletes nothing."""
    catalog = _catalog(settings)
    policy = settings.retention
    state = _Pruning()

    def decide(ctx: StepContext) -> None:
        backups = catalog.backups()
        state.forget = retention.to_forget(backups, policy)
        kept = len(backups) - len(state.forget)
        ctx.produce("kept", str(kept))
        ctx.produce("to prune" if dry_run else "pruned", ", ".join(b.id for b in state.forget) or "none")

    def delete(ctx: StepContext) -> None:
        for backup in state.forget:
            ctx.check()
            shutil.rmtree(backup.path)
            if settings.secondary:
                shutil.rmtree(Path(settings.secondary) / backup.id, ignore_errors=True)
        for leftover in catalog.leftovers():
            shutil.rmtree(leftover, ignore_errors=True)

    rule = (f"keep {policy.daily} daily, {policy.weekly} weekly, {policy.monthly} monthly of each kind "
            "(restic's semantics)")
    steps = [Step(f"decide which backups in {catalog.root} to keep: {rule}", decide)]
    if not dry_run:
        steps.append(Step("delete the others (and their secondary copies, and unfinished leftovers)", delete))
    return Plan(tuple(steps), summary="Dry run: nothing was deleted." if dry_run else "Retention applied.")


# -- the executor's operations --------------------------------------------------------------------
@operation("backup.run")
def backup_run(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    kind = "database" if params.get("kind") == "database" else "full"
    fmt = params.get("format")
    return backup_plan(env.playbook.backups, now=env.now, kind=kind,
                       fmt="plain" if fmt == "plain" else "directory" if fmt == "directory" else None)


@operation("backup.verify")
def backup_verify(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    return verify_plan(env.playbook.backups, str(params.get("id", "latest")))


@operation("backup.restore")
def backup_restore(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    settings = env.playbook.backups
    into = params.get("database")
    services = settings.restore
    return restore_plan(settings, str(params["id"]), database_name=str(into) if into else None,
                        before=to_steps(services.stop_services), after=to_steps(services.start_services))


@operation("backup.restore_test")
def backup_restore_test(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    return restore_test_plan(env.playbook.backups)


@operation("backup.prune")
def backup_prune(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    return prune_plan(env.playbook.backups, dry_run=bool(params.get("dry_run", False)))
