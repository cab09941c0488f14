"""What a unit of work changed, told after its commit to those who show state elsewhere (the Home
tab, ``bot/home``): the rows it added, changed or deleted, by table, and the tables touched by bulk
statements (a compare-and-set ``UPDATE … WHERE``), whose rows it never loaded.

Recorded by session events into ``session.info`` for every session, read by ``UnitOfWork`` once
the commit succeeded; a flow knows nothing of who watches."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

SEEN = "committed_seen"


@dataclass
class Changed:
    rows: dict[str, list[object]] = field(default_factory=dict)
    """Table name → the ORM objects flushed (added, changed or deleted)."""
    bulk: set[str] = field(default_factory=set)
    """Tables changed by UPDATE or DELETE statements (rows unknown)."""

    @property
    def tables(self) -> set[str]:
        return set(self.rows) | self.bulk

    def __bool__(self) -> bool:
        return bool(self.rows or self.bulk)


def of(session: Session) -> Changed:
    """What the session has flushed so far (empty if nothing)."""
    return session.info.get(SEEN) or Changed()


def _seen(session: Session) -> Changed:
    changed = session.info.get(SEEN)
    if changed is None:
        changed = session.info[SEEN] = Changed()
    return changed


@event.listens_for(Session, "before_flush")
def _rows(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    objects = [*session.new, *session.dirty, *session.deleted]
    if not objects:
        return
    changed = _seen(session)
    for obj in objects:
        table = getattr(type(obj), "__table__", None)
        if table is not None:
            changed.rows.setdefault(table.name, []).append(obj)


@event.listens_for(Session, "do_orm_execute")
def _statements(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        _seen(state.session).bulk.add(state.bind_mapper.persist_selectable.name)  # type: ignore[union-attr]
