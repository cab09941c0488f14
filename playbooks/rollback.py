"""``rollback.yaml``: what an emergency rollback (procedures 5.4, ``rollback.sh``) puts back.

The previous release is the images tagged ``:backup`` at deploy time and the ``.env`` kept as last
known good; the database is restored only when asked, by the backup restore action with its own
approvals."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, field_validator

from playbooks.common import PackModel
from playbooks.runner_steps import DockerTag, HttpCheck, RunnerSteps


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path; write it like /opt/app/.env")
    return value


AbsolutePath = Annotated[str, AfterValidator(_absolute)]


class EnvFile(PackModel):
    source: AbsolutePath
    """The last known good copy, e.g. /opt/backup/last_known_good/.env."""
    target: AbsolutePath
    """The file the services read, e.g. /opt/app/.env (the one replaced is kept beside it)."""


class RollbackSettings(PackModel):
    images: tuple[DockerTag, ...] = ()
    """``{image: app:backup, as: app:latest}`` per image of the release."""
    env_file: EnvFile | None = None
    stop_services: RunnerSteps = ()
    """Before anything is put back. ``docker_start`` and ``docker_restart`` keep a container on the
    image it was created from: ``docker_recreate`` in ``start_services`` runs the retagged one."""
    start_services: RunnerSteps = ()
    health: HttpCheck | None = None
    restore_action: str = "backup.restore"
    """The declared action ``database=<backup id>`` requests once images and configuration are back."""

    @field_validator("images")
    @classmethod
    def _distinct(cls, value: tuple[DockerTag, ...]) -> tuple[DockerTag, ...]:
        targets = [tag.as_ for tag in value]
        if len(set(targets)) != len(targets):
            raise ValueError("two images are tagged as the same reference")
        return value
