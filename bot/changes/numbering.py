"""``CR-YYYY-NNNN`` numbers, unique under concurrent submissions.

One counter row per year, incremented by a single ``UPDATE … RETURNING``: the row lock it takes
holds every other submission of the year until this one commits, so two requests can never read
the same number, and a request that rolls back gives its number back (no gaps). The row for a new
year is created with ``INSERT … ON CONFLICT DO NOTHING``, so two first requests of a year do not
collide either."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.changes import ChangeCounter


def allocate(session: Session, year: int) -> int:
    """The next sequence number of ``year``, reserved in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.exec(insert(ChangeCounter).values(year=year, last=0)  # type: ignore[call-overload]
                 .on_conflict_do_nothing(index_elements=["year"]))
    seq = session.exec(  # type: ignore[call-overload]
        update(ChangeCounter).where(col(ChangeCounter.year) == year)
        .values(last=col(ChangeCounter.last) + 1).returning(col(ChangeCounter.last))
    ).scalar_one()
    return int(seq)


def format_number(year: int, seq: int) -> str:
    return f"CR-{year}-{seq:04d}"
