"""Alembic, driven from code so `opsbot db upgrade` and start-up need no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """One line of revisions (docs/architecture.md names the current head): a new migration
    revises the head, so there is always exactly one."""
    command.upgrade(alembic_config(engine), revision)
