"""Keeping follow-ups and their tracker issues in step, both ways, off the incident's path.

Each follow-up with a tracker has a due time (``tracker_sync_at``) for its next exchange: create
the issue, close it after the follow-up was done here, or read it back every ``sync_every`` (a
closed issue marks the follow-up done). The exchange is claimed by
compare-and-set on that time, made outside any transaction, and its outcome saved after; when the
tracker is down or slow the due time moves back with a growing pause, like the Slack outbox, and
nothing else waits for it. An issue whose creation was not confirmed (the answer was lost) is
looked up by the follow-up's marker before it is created again, so each follow-up has one issue.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import update
from sqlmodel import col, select

from bot.followups import service
from bot.followups.trackers.base import NewIssue, Tracker, TrackerIssue, TrackerRejected, TrackerUnavailable
from bot.work import Ctx, UnitOfWork
from storage.followups import DONE, FollowUp
from storage.models import Incident

log = structlog.get_logger(__name__)
CLAIM_FOR = timedelta(minutes=2)
MAX_BACKOFF = timedelta(minutes=30)
BATCH = 50


def marker(followup: FollowUp) -> str:
    return f"opsbot-fu-{followup.id}"


class TrackerSync:
    def __init__(self, work: UnitOfWork, tracker: Tracker | None) -> None:
        self._work = work
        self._tracker = tracker

    def run_due(self) -> int:
        """Make every exchange that is due; returns how many succeeded."""
        if self._tracker is None:
            return 0
        due = self._work(lambda ctx: ctx.session.exec(
            select(FollowUp.id, FollowUp.tracker_sync_at).where(col(FollowUp.tracker_sync_at) <= ctx.now)
            .where(FollowUp.tracker == self._tracker.name)  # type: ignore[union-attr]
            .order_by(col(FollowUp.tracker_sync_at)).limit(BATCH)).all())
        done = 0
        for followup_id, due_at in due:
            if followup_id is not None and self._work(lambda ctx, i=followup_id, d=due_at: _claim(ctx, i, d)):
                done += self._exchange(followup_id)
        return done

    def _exchange(self, followup_id: int) -> int:
        assert self._tracker is not None
        followup, incident_ref = self._work(lambda ctx: _with_ref(ctx, followup_id))
        try:
            if followup.tracker_key is None:
                issue = self._tracker.find(marker(followup)) if followup.tracker_attempts else None
                redact = self._work.redact  # a token pasted into Slack does not travel on to the tracker
                issue = issue or self._tracker.create(NewIssue(
                    title=redact(f"{followup.text[:200]} ({incident_ref} follow-up)"),
                    body=redact(f"Follow-up {followup.ref} of {incident_ref}, owned by Slack user {followup.owner}.\n"
                                f"{followup.text}"), due_on=followup.due_on.isoformat(), marker=marker(followup)))
            elif followup.status == DONE and not followup.tracker_done:
                issue = self._tracker.close(followup.tracker_key)
            else:
                issue = self._tracker.get(followup.tracker_key)
        except (TrackerUnavailable, TrackerRejected) as exc:
            error = str(exc)
            self._work(lambda ctx: _later(ctx, followup_id, error))
            log.warning("tracker_exchange_failed", followup=followup.ref, error=error)
            return 0
        self._work(lambda ctx: _settle(ctx, followup_id, issue))
        return 1


def _with_ref(ctx: Ctx, followup_id: int) -> tuple[FollowUp, str]:
    followup = ctx.session.get(FollowUp, followup_id)
    assert followup is not None
    incident = ctx.session.get(Incident, followup.incident_id)
    return followup, incident.ref if incident else "an incident"


def _claim(ctx: Ctx, followup_id: int, due_at: object) -> bool:
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(FollowUp).where(col(FollowUp.id) == followup_id).where(col(FollowUp.tracker_sync_at) == due_at)
        .values(tracker_sync_at=ctx.now + CLAIM_FOR).execution_options(synchronize_session=False))
    return bool(claimed.rowcount == 1)


def _later(ctx: Ctx, followup_id: int, error: str) -> None:
    followup = ctx.session.get(FollowUp, followup_id)
    if followup is None:
        return
    followup.tracker_attempts += 1
    followup.tracker_error = error
    followup.tracker_sync_at = ctx.now + min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(followup.tracker_attempts, 9)))


def _settle(ctx: Ctx, followup_id: int, issue: TrackerIssue) -> None:
    followup = ctx.session.get(FollowUp, followup_id)
    if followup is None:
        return
    followup.tracker_key, followup.tracker_url = issue.key, issue.url or followup.tracker_url
    followup.tracker_attempts, followup.tracker_error = 0, None
    if issue.done and not followup.tracker_done:
        service.done_in_tracker(ctx, followup)
    if followup.status == DONE and not followup.tracker_done:
        followup.tracker_sync_at = ctx.now  # done here first: close the issue next
    elif followup.status == DONE:
        followup.tracker_sync_at = None  # in step, and nothing more to exchange
    else:
        followup.tracker_sync_at = ctx.now + ctx.playbook.record.followups.sync_every
