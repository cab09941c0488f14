"""Claiming a timer (docs/architecture.md, "Timers are data"): the process whose conditional update
moves a row's due time away from the value it read does the work, in the same transaction; every
other process, replica or retry finds nothing to do."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import select

from bot.work import Ctx

Row = TypeVar("Row")


def claim(ctx: Ctx, model: type[Row], row_id: int, column: str, *,
          wanted: Callable[[Row], bool] = lambda _row: True) -> Row | None:
    """The row, once ``column`` (a due time, now due) is cleared for this process; None when it is
    not due, not ``wanted`` any more, or another process claimed it first. The caller plans the next
    due time, if any, in the same unit of work."""
    row = ctx.session.get(model, row_id)
    due = getattr(row, column) if row is not None else None
    if row is None or due is None or due > ctx.now or not wanted(row):
        return None
    table: Any = model
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(table).where(table.id == row_id).where(getattr(table, column) == due)
        .values({column: None}).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None
    setattr(row, column, None)
    return row


def claim_due(ctx: Ctx, model: type[Row], row_ids: Sequence[int], column: str, *,
              where: Iterable[Any] = ()) -> list[Row]:
    """``claim`` for a batch: of ``row_ids``, the rows whose ``column`` is due (and that match
    ``where``), cleared for this process by one conditional update that returns the IDs it cleared.
    Another process's update of the same rows waits for this one and then finds them not due, so
    each is claimed once; a batch costs two statements, not two per row."""
    if not row_ids:
        return []
    table: Any = model
    cleared = ctx.session.execute(
        update(table).where(table.id.in_(row_ids)).where(getattr(table, column) <= ctx.now).where(*where)
        .values({column: None}).returning(table.id).execution_options(synchronize_session=False)).scalars().all()
    if not cleared:
        return []
    rows = list(ctx.session.exec(select(table).where(table.id.in_(cleared)).order_by(table.id)).all())
    for row in rows:  # the update bypassed any copy this session already holds
        setattr(row, column, None)
    return rows
