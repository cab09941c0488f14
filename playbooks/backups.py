"""``backups.yaml``: what the backup actions back up, where copies go, how long they are kept, and
how a restore stops and starts services (procedures section 5.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from playbooks.common import PackModel
from playbooks.durations import Duration
from playbooks.runner_steps import RunnerSteps

_DB_NAME = r"^[a-z_][a-z0-9_]{0,62}$"


class DatabaseSource(PackModel):
    """The PostgreSQL database to dump. The password comes from a file or an environment variable
    (never the YAML, never a process's argv: it is handed over as PGPASSWORD)."""

    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    user: str = "postgres"
    name: str = Field(default="app", pattern=_DB_NAME)
    password_file: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    container: str | None = None
    """Dump with ``docker exec <container> pg_dump`` (plain format) instead of connecting."""
    jobs: int = Field(default=2, ge=1, le=32)
    format: Literal["directory", "plain"] = "directory"
    compression: int = Field(default=1, ge=0, le=9)  # directory format; plain uses gzip -6 as the seed

    @model_validator(mode="after")
    def _one_password_source(self) -> DatabaseSource:
        if self.password_file and self.password_env:
            raise ValueError("give password_file or password_env, not both")
        return self


class Archive(PackModel):
    """A tar.gz of some paths (the seed's application, media and configuration archives)."""

    paths: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ("*.log", "__pycache__", "node_modules")


class Retention(PackModel):
    """restic's ``forget --keep-daily/--keep-weekly/--keep-monthly``."""

    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=3, ge=0)


class Offsite(PackModel):
    folder: str
    key_file: str  # 32 bytes: raw, or 64 hex characters, or base64


class Objectives(PackModel):
    """Recovery point and time objectives, as the procedures set them."""

    database_rpo: Duration = timedelta(hours=6)
    files_rpo: Duration = timedelta(hours=24)
    database_rto: Duration = timedelta(hours=1)
    full_rto: Duration = timedelta(hours=4)


class RestoreSteps(PackModel):
    """What a restore does around the data: runner steps (``playbooks.runner_steps``: ``run`` argv
    lists, ``docker_stop``/``docker_start``/``docker_restart``, ``http_check``…), run in order.
    ``stop_services`` runs once the backup's checksums passed, before any data is touched;
    ``start_services`` once the data is back (end it with an ``http_check`` to wait for health)."""

    stop_services: RunnerSteps = ()
    start_services: RunnerSteps = ()
    checks: tuple[str, ...] = ()
    """Read-only SQL run after the restore, each must succeed (e.g. ``SELECT COUNT(*) FROM users``)."""
    files_target: str = "/"  # archives hold paths relative to / (as the seed's tar -C /)


class BackupSettings(PackModel):
    root: str = "./backups"
    secondary: str | None = None
    offsite: Offsite | None = None
    database: DatabaseSource = DatabaseSource()
    archives: dict[str, Archive] = {}
    retention: Retention = Retention()
    objectives: Objectives = Objectives()
    restore: RestoreSteps = RestoreSteps()
    scratch_database: str = Field(default="opsbot_restore_test", pattern=_DB_NAME)

    @model_validator(mode="after")
    def _scratch_is_not_the_source(self) -> BackupSettings:
        if self.scratch_database == self.database.name:
            raise ValueError("scratch_database must differ from database.name: the restore test drops it")
        return self
