"""The rules of paging beyond Slack (docs/paging.md): a person's contact methods, which pages an
escalation level starts, their repeats, and what stops them.

A person's contacts are paged in one order: by delay, then by the pack's order of kinds
(``paging.yaml: methods``), then as added; ``/oncall contact list`` numbers them that way.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot.paging.commands import AddContact
from bot.refusal import Refusal
from bot.work import Ctx
from playbooks.durations import format_duration
from playbooks.models import Playbook
from storage.models import Incident
from storage.paging import CANCELLED, DUE, ContactMethod, Page, PageSend

MAX_CONTACTS = 10
KIND_NAMES = {"email": "e-mail", "ntfy": "ntfy push", "sms": "SMS"}


def after(playbook: Playbook, contact: ContactMethod) -> timedelta:
    if contact.after_seconds is not None:
        return timedelta(seconds=contact.after_seconds)
    return playbook.paging.default_after(contact.kind)


def contacts(ctx: Ctx, user: str) -> list[ContactMethod]:
    """A person's contacts in the order they are paged."""
    return contacts_of(ctx, [user]).get(user, [])


def contacts_of(ctx: Ctx, users: list[str]) -> dict[str, list[ContactMethod]]:
    """Each person's contacts in the order they are paged (one query for a whole escalation level)."""
    found = ctx.session.exec(select(ContactMethod).where(col(ContactMethod.user_id).in_(users))).all()
    by_user: dict[str, list[ContactMethod]] = {}
    for contact in sorted(found, key=lambda c: (after(ctx.playbook, c), ctx.playbook.paging.rank(c.kind), c.id or 0)):
        by_user.setdefault(contact.user_id, []).append(contact)
    return by_user


def add_contact(ctx: Ctx, user: str, wanted: AddContact, off: str | None) -> str:
    """``off``: why this kind cannot be sent from here (not configured), if it cannot."""
    if off:
        raise Refusal(off)
    mine = contacts(ctx, user)
    if any(c.kind == wanted.kind and c.address == wanted.address for c in mine):
        raise Refusal(f"You already have {KIND_NAMES[wanted.kind]} {wanted.address}; `/oncall contact list` "
                      "shows yours.")
    if len(mine) >= MAX_CONTACTS:
        raise Refusal(f"You have {MAX_CONTACTS} contacts already; remove one first (`/oncall contact remove <n>`).")
    seconds = int(wanted.after.total_seconds()) if wanted.after is not None else None
    ctx.session.add(ContactMethod(user_id=user, kind=wanted.kind, address=wanted.address, after_seconds=seconds,
                                  created_at=ctx.now))
    ctx.session.flush()
    return "Added. " + listing(ctx, user)


def remove_contact(ctx: Ctx, user: str, number: int) -> str:
    """Pages still due through it are cancelled: the person asked not to be reached there."""
    mine = contacts(ctx, user)
    if not 1 <= number <= len(mine):
        raise Refusal(f"You have no contact number {number}. " + listing(ctx, user))
    gone = mine[number - 1]
    ctx.session.exec(update(PageSend).where(col(PageSend.contact_id) == gone.id)  # type: ignore[call-overload]
                     .where(col(PageSend.state) == DUE).values(state=CANCELLED, due_at=None)
                     .execution_options(synchronize_session=False))
    ctx.session.exec(update(PageSend).where(col(PageSend.contact_id) == gone.id)  # type: ignore[call-overload]
                     .values(contact_id=None).execution_options(synchronize_session=False))
    ctx.session.delete(gone)
    ctx.session.flush()
    return f"Removed {KIND_NAMES[gone.kind]} {gone.address}. " + listing(ctx, user)


def listing(ctx: Ctx, user: str) -> str:
    mine = contacts(ctx, user)
    if not mine:
        return ("You have no contacts beyond Slack: escalations reach you in Slack only. "
                "`/oncall contact add email|ntfy|sms <address> [after 5m]` adds one.")
    lines = [f"{n}. {KIND_NAMES[c.kind]} {c.address}, {_when(after(ctx.playbook, c))}"
             + ("" if c.after_seconds is not None else " (the pack's delay)") for n, c in enumerate(mine, start=1)]
    return "When an incident escalates to you, you are paged in this order:\n" + "\n".join(lines)


def _when(delay: timedelta) -> str:
    return "at once" if delay <= timedelta(0) else f"{format_duration(delay)} after the escalation"


def repeat_every(playbook: Playbook, level: int) -> timedelta:
    found = next((lvl for lvl in playbook.escalation if lvl.level == level), None)
    return (found.repeat_every if found and found.repeat_every else None) or playbook.paging.repeat_every


def page_level(ctx: Ctx, incident: Incident, level: int, users: list[str], reason: str) -> list[Page]:
    """Start paging each person of an escalation level who has contacts beyond Slack: the first
    round is due now (each contact after its delay), the next after the level's interval."""
    assert incident.id is not None
    paged = set(ctx.session.exec(select(Page.user_id).where(Page.incident_id == incident.id)
                                 .where(Page.level == level)).all())
    reachable = contacts_of(ctx, [u for u in users if u not in paged])
    started = [Page(incident_id=incident.id, level=level, user_id=user, reason=reason[:500], created_at=ctx.now,
                    round=1, next_round_at=ctx.now + repeat_every(ctx.playbook, level))
               for user in dict.fromkeys(users) if user in reachable]
    ctx.session.add_all(started)
    ctx.session.flush()
    for page in started:
        plan_round(ctx, page, reachable[page.user_id])
    return started


def plan_round(ctx: Ctx, page: Page, reachable: list[ContactMethod] | None = None) -> list[PageSend]:
    """One send per contact for the page's current round, each due after its delay."""
    assert page.id is not None
    sends = [PageSend(page_id=page.id, round=page.round, contact_id=c.id, kind=c.kind, address=c.address,
                      state=DUE, due_at=ctx.now + after(ctx.playbook, c))
             for c in (reachable if reachable is not None else contacts(ctx, page.user_id))]
    ctx.session.add_all(sends)
    return sends


def stop_pages(ctx: Ctx, incident_id: int, by: str) -> int:
    """Every page of the incident stops repeating and what it still had due is cancelled; returns
    how many pages were still going."""
    going = ctx.session.exec(select(Page).where(Page.incident_id == incident_id)
                             .where(col(Page.stopped_at).is_(None))).all()
    for page in going:
        page.stopped_at, page.stopped_by, page.next_round_at = ctx.now, by, None
        ctx.session.exec(update(PageSend).where(col(PageSend.page_id) == page.id)  # type: ignore[call-overload]
                         .where(col(PageSend.state) == DUE).values(state=CANCELLED, due_at=None)
                         .execution_options(synchronize_session=False))
    return len(going)
