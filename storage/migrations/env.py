"""Alembic environment: the engine comes from storage.migrate, the metadata from the models."""

from alembic import context
from sqlmodel import SQLModel

import storage.alerts  # noqa: F401
import storage.changes  # noqa: F401
import storage.followups  # noqa: F401
import storage.models  # noqa: F401  (registers the tables)
import storage.oncall  # noqa: F401
import storage.paging  # noqa: F401
import storage.postmortems  # noqa: F401
import storage.public  # noqa: F401
import storage.reports  # noqa: F401
import storage.run_questions  # noqa: F401
import storage.runs  # noqa: F401
import storage.timeline  # noqa: F401
import storage.windows  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
