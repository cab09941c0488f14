"""The backup operations as plans of titled steps: ``backup.run``, ``backup.verify``,
``backup.restore``, ``backup.restore_test`` and ``backup.prune``. The titles are the dry run
approvers read, so each says exactly what will happen, with resolved names and paths."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.ops.backup import archive, copies, database, retention
from bot.ops.backup.checksums import checksum_problems, write_checksums
from bot.ops.backup.dump import DIRECTORY_DUMP, PLAIN_DUMP, dump_database, plain_dump_complete
from bot.ops.backup.layout import Backup, Catalog, Manifest, TableStats, new_id
from bot.ops.registry import OpsEnv, operation
from playbooks.actions import ParamValue
from playbooks.backups import BackupSettings
from playbooks.durations import format_duration


def _catalog(settings: BackupSettings) -> Catalog:
    return Catalog(Path(settings.root))


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


# -- backup.run -----------------------------------------------------------------------------------
@dataclass
class _Building:
    staging: Path | None = None
    manifest: Manifest | None = None
    backup: Backup | None = None


@operation("backup.run")
def backup_run(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    settings = env.playbook.backups
    kind, fmt = str(params.get("kind", "full")), str(params.get("format", settings.database.format))
    catalog = _catalog(settings)
    backup_id = new_id(env.now, kind)
    conn_desc = f"{settings.database.name} at {settings.database.host}:{settings.database.port}"
    state = _Building()

    def prepare(ctx: StepContext) -> None:
        state.staging = catalog.staging(backup_id)
        state.manifest = Manifest(id=backup_id, kind=kind, created_at=env.now.isoformat())

    def dump(ctx: StepContext) -> None:
        assert state.staging and state.manifest
        dump_database(ctx, database.Connection.of(settings.database), state.staging, state.manifest, fmt)

    def make_archive(name: str) -> Step:
        spec = settings.archives[name]

        def run(ctx: StepContext) -> None:
            assert state.staging and state.manifest
            files = archive.create_archive(ctx, name, spec, state.staging / f"{name}.tar.gz")
            state.manifest.archives[name] = f"{name}.tar.gz"
            ctx.note(f"{name}: {files} files")

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
        decisions = retention.apply_policy([b.created_at for b in catalog.backups()], settings.retention)
        extra = sum(1 for d in decisions if not d.keep)
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


# -- verification ---------------------------------------------------------------------------------
def verify_folder(ctx: StepContext, folder: Path) -> None:
    """Checksums match, every archive reads to its end, the dump reads whole."""
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


@operation("backup.verify")
def backup_verify(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    catalog = _catalog(env.playbook.backups)
    wanted = str(params.get("id", "latest"))

    def verify(ctx: StepContext) -> None:
        backup = catalog.find(wanted)
        ctx.produce("backup", backup.id)
        verify_folder(ctx, backup.path)
        ctx.produce("verified", "checksums, archives and dump")

    return Plan((Step(f"verify backup {wanted} in {catalog.root}: checksums, archives read to the end, "
                      "dump read whole (pg_restore -f /dev/null or gzip -t + trailer)", verify),),
                summary="The backup verified.")


# -- restore --------------------------------------------------------------------------------------
def _restore_dump(ctx: StepContext, conn: database.Connection, backup: Backup, target: str) -> None:
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


def _run_argv(argv: tuple[str, ...]) -> Step:
    def run(ctx: StepContext) -> None:
        ctx.runner.process(argv)

    return Step("run " + " ".join(argv), run)


def _poll_health(url: str, within: float) -> Step:
    def poll(ctx: StepContext) -> None:
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            ctx.check()
            try:
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http(s) only, validated)
                    if 200 <= response.status < 300:
                        ctx.produce("health", f"{url} answered {response.status}")
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            ctx.note(f"waiting for {url}: {last}")
            time.sleep(1)
        raise StepFailed(f"{url} did not become healthy within {within:.0f} s (last: {last})")

    return Step(f"poll {url} until it answers 2xx (up to {within:.0f} s)", poll)


@operation("backup.restore")
def backup_restore(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    settings = env.playbook.backups
    catalog = _catalog(settings)
    backup = catalog.find(str(params["id"]))  # refuse at request time when there is no such backup
    target = str(params.get("database") or settings.database.name)
    replacing = target == settings.database.name
    steps_cfg = settings.restore
    started: dict[str, float] = {}

    def verify(ctx: StepContext) -> None:
        started["at"] = time.monotonic()
        problems = checksum_problems(backup.path)
        if problems:
            raise StepFailed(f"backup {backup.id} fails its checksums, nothing was restored: {'; '.join(problems[:5])}")

    def restore_db(ctx: StepContext) -> None:
        conn = database.Connection.of(settings.database)
        if not replacing and database.database_exists(conn, target):
            raise StepFailed(f"database {target} already exists; restore into a new name, or into "
                             f"{settings.database.name} to replace it")
        _restore_dump(ctx, conn, backup, target)

    def extract(name: str, file: str) -> Step:
        def run(ctx: StepContext) -> None:
            count = archive.extract_safely(backup.path / file, Path(steps_cfg.files_target))
            ctx.note(f"{name}: {count} entries")

        return Step(f"extract {file} into {steps_cfg.files_target} (safe extraction: no absolute paths, no '..', "
                    "no links out)", run)

    def checks(ctx: StepContext) -> None:
        for result in database.run_checks(database.Connection.of(settings.database), target, steps_cfg.checks):
            ctx.note(result)
            ctx.produce(f"check {len(ctx.produced)}", result)

    def report(ctx: StepContext) -> None:
        took = time.monotonic() - started.get("at", time.monotonic())
        objective = settings.objectives.full_rto if restoring_files else settings.objectives.database_rto
        verdict = "within" if took <= objective.total_seconds() else "OVER"
        ctx.produce("recovery time", f"{took:.1f} s ({verdict} the RTO of {format_duration(objective)})")

    manifest = backup.manifest()
    action = "replace" if replacing else "create"
    dump_how = ("pg_restore -j" + str(settings.database.jobs) if manifest.dump_format == "directory"
                else "gunzip | psql")
    steps = [Step(f"verify backup {backup.id}'s checksums (SHA-256 of every file); refuse on any mismatch", verify)]
    steps += [_run_argv(argv) for argv in steps_cfg.stop_services]
    if manifest.dump:
        steps.append(Step(f"{action} database {target} at {settings.database.host}:{settings.database.port} "
                          f"and {dump_how} from {backup.id}", restore_db))
    restoring_files = not params.get("database") and bool(manifest.archives)
    if restoring_files:  # a restore into another database is a copy of the data, not a recovery
        steps += [extract(name, file) for name, file in manifest.archives.items()]
    steps += [_run_argv(argv) for argv in steps_cfg.start_services]
    if steps_cfg.health_url:
        steps.append(_poll_health(steps_cfg.health_url, steps_cfg.health_within.total_seconds()))
    if steps_cfg.checks and manifest.dump:
        steps.append(Step("post-recovery checks: " + "; ".join(steps_cfg.checks), checks))
    steps.append(Step("report the recovery time against the RTO", report))
    return Plan(tuple(steps), summary=f"Restored {backup.id} into {target}.")


@operation("backup.restore_test")
def backup_restore_test(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    settings = env.playbook.backups
    catalog = _catalog(settings)
    scratch = settings.scratch_database
    state: dict[str, Backup] = {}

    def pick(ctx: StepContext) -> None:
        candidates = [b for b in catalog.backups() if b.manifest().dump]
        if not candidates:
            raise StepFailed(f"there is no backup with a database dump in {catalog.root} yet")
        state["backup"] = candidates[0]
        ctx.produce("backup", candidates[0].id)
        problems = checksum_problems(candidates[0].path)
        if problems:
            raise StepFailed(f"backup {candidates[0].id} fails its checksums: {'; '.join(problems[:5])}")

    def restore(ctx: StepContext) -> None:
        _restore_dump(ctx, database.Connection.of(settings.database), state["backup"], scratch)

    def compare(ctx: StepContext) -> None:
        expected = state["backup"].manifest().tables
        with database.Connection.of(settings.database).connect(scratch) as db:
            actual = database.table_stats(db)
        if not expected:
            raise StepFailed("the backup recorded no table statistics to compare with")
        differences = [difference for name in sorted(set(expected) | set(actual))
                       if (difference := _table_difference(name, expected.get(name), actual.get(name)))]
        if differences:
            raise StepFailed("the restored database differs: " + "; ".join(differences[:5]))
        rows = sum(s.rows for s in expected.values())
        ctx.produce("result", f"identical: {len(expected)} tables, {rows} rows, contents checksummed")

    def drop(ctx: StepContext) -> None:
        database.drop_database(database.Connection.of(settings.database), scratch)

    def cleanup() -> None:  # also after a failed comparison: the scratch copy is not kept
        database.drop_database(database.Connection.of(settings.database), scratch)

    return Plan((
        Step(f"pick the latest backup with a dump in {catalog.root} and check its checksums", pick),
        Step(f"recreate scratch database {scratch} and restore the dump into it", restore),
        Step("compare every table's row count and content checksum with the source at dump time", compare),
        Step(f"drop {scratch}", drop),
    ), summary="The latest backup restores to an identical database.", cleanup=cleanup)


def _table_difference(name: str, expected: TableStats | None, actual: TableStats | None) -> str | None:
    if expected is None:
        return f"{name}: not in the source at dump time"
    if actual is None:
        return f"{name}: missing after the restore"
    if actual.rows != expected.rows:
        return f"{name}: {expected.rows} rows at dump time, {actual.rows} restored"
    if actual.checksum != expected.checksum:
        return f"{name}: contents differ"
    return None


# -- retention ------------------------------------------------------------------------------------
@dataclass
class _Pruning:
    forget: list[Backup] = field(default_factory=list)


@operation("backup.prune")
def backup_prune(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    settings = env.playbook.backups
    catalog = _catalog(settings)
    policy = settings.retention
    dry_run = bool(params.get("dry_run", False))
    state = _Pruning()

    def decide(ctx: StepContext) -> None:
        backups = {b.created_at: b for b in catalog.backups()}
        decisions = retention.apply_policy(list(backups), policy)
        state.forget = [backups[d.when] for d in decisions if not d.keep]
        kept = sum(1 for d in decisions if d.keep)
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

    rule = f"keep {policy.daily} daily, {policy.weekly} weekly, {policy.monthly} monthly (restic's semantics)"
    steps = [Step(f"decide which backups in {catalog.root} to keep: {rule}", decide)]
    if not dry_run:
        steps.append(Step("delete the others (and their secondary copies, and unfinished leftovers)", delete))
    return Plan(tuple(steps), summary="Dry run: nothing was deleted." if dry_run else "Retention applied.")
