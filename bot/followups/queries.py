"""Reading follow-ups, for this domain and for whoever shows them elsewhere (a Home tab, a
report, an on-call handoff): plain functions of a session, oldest due date first."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from storage.followups import OPEN, FollowUp


def of_user(session: Session, user_id: str, *, open_only: bool = True) -> list[FollowUp]:
    """The follow-ups ``user_id`` owns (the open ones unless ``open_only`` is false)."""
    query = select(FollowUp).where(FollowUp.owner == user_id)
    if open_only:
        query = query.where(FollowUp.status == OPEN)
    return list(session.exec(query.order_by(col(FollowUp.due_on), col(FollowUp.id))).all())


def open_followups(session: Session, *, due_by: date | None = None) -> list[FollowUp]:
    """Every open follow-up (those due on or before ``due_by`` when given)."""
    query = select(FollowUp).where(FollowUp.status == OPEN)
    if due_by is not None:
        query = query.where(col(FollowUp.due_on) <= due_by)
    return list(session.exec(query.order_by(col(FollowUp.due_on), col(FollowUp.id))).all())


def overdue(session: Session, today: date) -> list[FollowUp]:
    """Open follow-ups whose due date has passed (``today`` in the pack's time zone)."""
    return [f for f in open_followups(session, due_by=today) if f.due_on < today]


def of_incident(session: Session, incident_id: int | None) -> list[FollowUp]:
    return list(session.exec(select(FollowUp).where(FollowUp.incident_id == incident_id)
                             .order_by(col(FollowUp.id))).all())
