"""Claiming a timer (docs/architecture.md, "Timers are data"): the process whose conditional update
moves a row's due time away from the value it read does the work, in the same transaction; every
other process, replica or retry finds nothing to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import update

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
