"""The emergency rollback (procedures 5.4, the seed's ``rollback.sh``) as one critical run.

Stop the services, tag each ``:backup`` image as ``:latest`` through the Engine API, put the last
known good ``.env`` back, then either start the services and wait for health, or, when a database
restore was asked for, request the restore action (its own approvals; it starts the services
itself once the data is back, so the old release never runs against the new schema).

The plan is pinned: its titles name the image IDs and the backup looked up at request time, and the
executor refuses to run it if they changed before it starts. Tags are made from those IDs, so the
image approved is the image tagged even if ``:backup`` moved meanwhile."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from bot.executor.plan import FollowUp, Lookups, Plan, Step, StepContext, StepFailed
from bot.executor.runner_steps import to_step, to_steps
from bot.ops.backup.layout import Catalog, human_size
from bot.ops.operation import OpsEnv, operation
from playbooks.actions import ParamValue
from playbooks.models import Playbook
from playbooks.rollback import EnvFile
from playbooks.runner_steps import DockerTag, HttpCheckStep

NO_DATABASE = "no"


@operation("rollback.run")
def rollback_run(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    return rollback_plan(env.playbook, env.lookups, database=str(params.get("database", NO_DATABASE)), now=env.now)


def rollback_plan(playbook: Playbook, lookups: Lookups, *, database: str, now: datetime) -> Plan:
    settings = playbook.rollback
    if not settings.images:
        raise StepFailed("rollback.yaml names no images to roll back")
    steps = to_steps(settings.stop_services)
    steps += [_tag_step(tag, lookups) for tag in settings.images]
    if settings.env_file is not None:
        steps.append(_env_step(settings.env_file, now))
    follow_ups: tuple[FollowUp, ...] = ()
    if database == NO_DATABASE:
        steps += to_steps(settings.start_services)
        if settings.health is not None:
            steps.append(to_step(HttpCheckStep(http_check=settings.health)))
        summary = "Rolled back: the previous images and configuration are running and healthy."
    else:
        follow_ups = (_restore_request(playbook, database),)
        backup = follow_ups[0].params["id"]
        catalog = Catalog(Path(playbook.backups.root))
        steps.append(Step(f"check backup {backup} is still in {catalog.root}, then request "
                          f"`{settings.restore_action}` of it (its own approvals): it stops the services, "
                          "restores the data, starts them and checks health",
                          lambda _ctx: catalog.find(backup) and None))
        summary = (f"Images and configuration are rolled back; the services start once `{settings.restore_action}` "
                   f"of backup {backup}, requested below, has restored the data.")
    return Plan(tuple(steps), summary=summary, pinned=True, follow_ups=follow_ups, announce=True)


def _tag_step(tag: DockerTag, lookups: Lookups) -> Step:
    approved = lookups.image_id(tag.image)
    if approved is None:
        raise StepFailed(f"there is no image {tag.image} to roll back to")
    current = lookups.image_id(tag.as_)
    now = f"now {_short(current)}" if current else "absent now"

    def run(ctx: StepContext) -> None:
        if ctx.docker is None:
            raise StepFailed("tagging images needs the Docker engine, and none is configured")
        ctx.check()
        ctx.docker.tag(approved, tag.as_)
        ctx.produce(tag.as_, _short(approved))

    return Step(f"docker tag {tag.image} ({_short(approved)}) as {tag.as_} ({now})", run)


def _env_step(env_file: EnvFile, now: datetime) -> Step:
    """Copy the last known good file into place atomically; the replaced one is kept, never lost.
    The title names the file by size and time, never by content: it holds secrets."""
    source, target = Path(env_file.source), Path(env_file.target)
    try:
        stat = source.stat()
    except OSError as exc:
        raise StepFailed(f"the last known good {source} cannot be read: {exc.strerror or exc}") from None
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    kept = target.with_name(f"{target.name}.before-rollback-{now.strftime('%Y%m%dT%H%M%SZ')}")

    def run(ctx: StepContext) -> None:
        ctx.check()
        if target.exists():
            shutil.copy2(target, kept)
            ctx.produce("replaced configuration kept as", str(kept))
        _replace_atomically(source, target)

    return Step(f"put {source} ({human_size(stat.st_size)}, modified {modified}) in place of {target}, "
                "keeping the replaced file beside it", run)


def _replace_atomically(source: Path, target: Path) -> None:
    """A reader sees the old file or the new one, never half of one; the mode is the source's."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, source.stat().st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _restore_request(playbook: Playbook, database: str) -> FollowUp:
    action = playbook.rollback.restore_action
    if action not in playbook.actions:
        raise StepFailed(f"a database restore needs the action `{action}` (rollback.yaml restore_action), "
                         "which actions.yaml does not declare")
    backup = Catalog(Path(playbook.backups.root)).find(database)
    if backup.manifest().dump is None:
        raise StepFailed(f"backup {backup.id} holds no database dump")
    return FollowUp(action, {"id": backup.id})


def _short(image_id: str) -> str:
    """``sha256:0123456789ab``, as ``docker images`` shows IDs."""
    return image_id if not image_id.startswith("sha256:") else image_id[:19]
