"""Putting the post-mortem draft in Slack: the queue of ``PostmortemEdit`` rows, worked in order per
draft, each claimed by compare-and-set so two processes never make one edit twice (as the outbox
does for messages). Runs in the background (``bot.background``): a slow Slack delays only this.

The draft is the incident channel's canvas (``conversations.canvases.create``; additions go in with
``canvases.edit`` just before the heading that follows their section, found with
``canvases.sections.lookup``). Where the workspace has no canvases, or the pack says so, it is a
Markdown file uploaded with ``files.getUploadURLExternal`` + ``files.completeUploadExternal``
(``files.upload`` was retired in 2025), uploaded again when it changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import col, select

from bot.postmortems import views
from bot.postmortems.document import as_plain_markdown
from bot.slack import outbox
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from bot.work import Ctx, UnitOfWork
from storage.models import Incident
from storage.postmortems import (
    CANVAS,
    DONE,
    FAILED,
    FILE,
    PENDING,
    PUBLISH,
    REPLACE,
    Postmortem,
    PostmortemEdit,
)

log = structlog.get_logger(__name__)
CLAIM_FOR = timedelta(minutes=2)
MAX_BACKOFF = timedelta(minutes=10)
SENDING = "sending"
GONE = ("canvas_not_found", "canvas_deleted")
"""The canvas was deleted in Slack: the draft is published again, whole."""
BUSY = ("canvas_editing_locked",)
"""Another edit of the canvas is in progress: try again shortly."""


class PostmortemPublisher:
    def __init__(self, work: UnitOfWork, gateway: SlackGateway) -> None:
        self._work = work
        self._gateway = gateway

    def run_due(self) -> int:
        """Make every due edit, oldest first, each draft's in order; returns how many were made."""
        due = self._work(lambda ctx: ctx.session.exec(
            select(PostmortemEdit).where(
                ((col(PostmortemEdit.state) == PENDING) & (col(PostmortemEdit.next_attempt_at) <= ctx.now))
                | ((col(PostmortemEdit.state) == SENDING) & (col(PostmortemEdit.claimed_until) < ctx.now)))
            .order_by(col(PostmortemEdit.id))).all())
        held: set[int] = set()
        made = 0
        for edit in due:
            if edit.postmortem_id in held or not self._work(lambda ctx, e=edit: _claim(ctx, e)):
                held.add(edit.postmortem_id)
                continue
            if self._make(edit):
                made += 1
            else:
                held.add(edit.postmortem_id)
        return made

    def _make(self, edit: PostmortemEdit) -> bool:
        postmortem, incident, superseded = self._work(lambda ctx: _context(ctx, edit))
        if incident.channel_id is None:
            self._work(lambda ctx: _settle(ctx, edit, PENDING, "the incident has no channel yet",
                                           later=timedelta(minutes=1)))
            return False
        try:
            if edit.op == PUBLISH or postmortem.format is None:
                self._publish(edit, postmortem, incident)
            elif postmortem.format == FILE:
                if not superseded:
                    self._upload(postmortem, incident, postmortem.text, f"{incident.ref} post-mortem draft, updated")
                self._work(lambda ctx: _finish(ctx, edit, None))
            else:
                self._edit_canvas(edit, postmortem, incident)
        except SlackUnavailable as exc:
            error = str(exc)
            self._work(lambda ctx: _settle(ctx, edit, PENDING, error, later=backoff(edit.attempts)))
            return False
        except SlackRejected as exc:
            return self._rejected(edit, postmortem, incident, exc)
        return True

    def _publish(self, edit: PostmortemEdit, postmortem: Postmortem, incident: Incident) -> None:
        channel = incident.channel_id
        assert channel is not None
        why = None if self._work.playbook.record.postmortem.canvas else "the pack asks for a file"
        if why is None:
            try:
                data = self._gateway.call("conversations.canvases.create", {
                    "channel_id": channel, "title": f"{incident.ref} post-mortem",
                    "document_content": {"type": "markdown", "markdown": edit.markdown}})
                canvas_id = str(data.get("canvas_id") or "")
                self._work(lambda ctx: _published(ctx, edit, CANVAS, canvas_id=canvas_id))
                return
            except SlackRejected as exc:  # no canvases on this workspace's plan, or the channel has one
                why = exc.error
                log.warning("postmortem_canvas_unavailable", incident=incident.ref, error=exc.error)
        file_id = self._upload(postmortem, incident, edit.markdown, f"{incident.ref} post-mortem draft")
        self._work(lambda ctx: _published(ctx, edit, FILE, file_id=file_id, why=why))

    def _edit_canvas(self, edit: PostmortemEdit, postmortem: Postmortem, incident: Incident) -> None:
        canvas = postmortem.canvas_id
        content = {"type": "markdown", "markdown": edit.markdown}
        if edit.op == REPLACE:
            change: dict[str, Any] = {"operation": "replace", "document_content": content}
        else:
            section = self._heading(canvas, edit.before) if edit.before else None
            change = ({"operation": "insert_before", "section_id": section, "document_content": content} if section
                      else {"operation": "insert_at_end", "document_content": content})
        self._gateway.call("canvases.edit", {"canvas_id": canvas, "changes": [change]})
        self._work(lambda ctx: _finish(ctx, edit, edit.note or None))

    def _heading(self, canvas: str | None, title: str) -> str | None:
        """The section id of the heading titled ``title`` (None when the team removed or renamed it)."""
        data = self._gateway.call("canvases.sections.lookup", {
            "canvas_id": canvas, "criteria": {"section_types": ["any_header"], "contains_text": title}})
        sections = data.get("sections") or []
        return str(sections[0]["id"]) if sections and isinstance(sections[0], dict) else None

    def _upload(self, postmortem: Postmortem, incident: Incident, markdown: str, comment: str) -> str:
        assert incident.channel_id is not None
        return self._gateway.upload_file(
            incident.channel_id, filename=f"{incident.ref}-post-mortem.md", title=f"{incident.ref} post-mortem",
            content=as_plain_markdown(markdown), comment=comment)

    def _rejected(self, edit: PostmortemEdit, postmortem: Postmortem, incident: Incident, exc: SlackRejected) -> bool:
        if exc.error in BUSY:
            self._work(lambda ctx: _settle(ctx, edit, PENDING, exc.error, later=backoff(edit.attempts)))
            return False
        if exc.error in GONE:
            self._work(lambda ctx: _republish(ctx, edit, postmortem))
            return True
        log.error("postmortem_edit_refused", incident=incident.ref, op=edit.op, error=exc.error)
        self._work(lambda ctx: _failed(ctx, edit, incident, exc.error))
        return True  # a refusal does not hold back the draft's later edits


def _context(ctx: Ctx, edit: PostmortemEdit) -> tuple[Postmortem, Incident, bool]:
    postmortem = ctx.session.get(Postmortem, edit.postmortem_id)
    assert postmortem is not None
    incident = ctx.session.get(Incident, postmortem.incident_id)
    assert incident is not None
    later = ctx.session.exec(select(PostmortemEdit.id).where(
        PostmortemEdit.postmortem_id == edit.postmortem_id, col(PostmortemEdit.id) > edit.id,
        PostmortemEdit.state == PENDING)).first()
    return postmortem, incident, later is not None


def _claim(ctx: Ctx, edit: PostmortemEdit) -> bool:
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(PostmortemEdit).where(col(PostmortemEdit.id) == edit.id)
        .where(col(PostmortemEdit.state) == edit.state).where(col(PostmortemEdit.attempts) == edit.attempts)
        .values(state=SENDING, claimed_until=ctx.now + CLAIM_FOR, attempts=edit.attempts + 1)
        .execution_options(synchronize_session=False))
    if claimed.rowcount == 1:
        edit.attempts += 1
    return bool(claimed.rowcount == 1)


def backoff(attempts: int) -> timedelta:
    """How long a failed upload or edit waits before the next attempt (the report charts' too)."""
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(attempts, 8)))


def _settle(ctx: Ctx, edit: PostmortemEdit, state: str, error: str | None, *,
            later: timedelta = timedelta(0)) -> None:
    row = ctx.session.get(PostmortemEdit, edit.id)
    assert row is not None
    row.state, row.last_error, row.claimed_until = state, error, None
    row.next_attempt_at = ctx.now + later
    if state == DONE:
        row.done_at = ctx.now


def _finish(ctx: Ctx, edit: PostmortemEdit, note: str | None) -> None:
    _settle(ctx, edit, DONE, None)
    if note:
        postmortem = ctx.session.get(Postmortem, edit.postmortem_id)
        incident = ctx.session.get(Incident, postmortem.incident_id) if postmortem else None
        if incident is not None and incident.channel_id:
            outbox.post(ctx.session, ctx.now, incident.channel_id, views.updated(incident, note),
                        incident_id=incident.id, purpose="postmortem")


def _published(ctx: Ctx, edit: PostmortemEdit, fmt: str, *, canvas_id: str | None = None, file_id: str | None = None,
               why: str | None = None) -> None:
    _settle(ctx, edit, DONE, None)
    postmortem = ctx.session.get(Postmortem, edit.postmortem_id)
    assert postmortem is not None
    postmortem.format, postmortem.canvas_id, postmortem.file_id = fmt, canvas_id, file_id
    incident = ctx.session.get(Incident, postmortem.incident_id)
    if incident is not None and incident.channel_id:
        text, blocks = views.published(incident, fmt, why)
        outbox.post(ctx.session, ctx.now, incident.channel_id, text, blocks, incident_id=incident.id,
                    purpose="postmortem")


def _republish(ctx: Ctx, edit: PostmortemEdit, postmortem: Postmortem) -> None:
    """The canvas is gone: every waiting edit is dropped and the whole draft published again."""
    row = ctx.session.get(Postmortem, postmortem.id)
    assert row is not None
    row.format = row.canvas_id = None
    ctx.session.exec(update(PostmortemEdit).where(  # type: ignore[call-overload]
        col(PostmortemEdit.postmortem_id) == postmortem.id, col(PostmortemEdit.state).in_([PENDING, SENDING]))
        .values(state=DONE, done_at=ctx.now, last_error="superseded: the canvas was deleted"))
    ctx.session.add(PostmortemEdit(postmortem_id=row.id or 0, op=PUBLISH, markdown=row.text, by=edit.by,
                                   created_at=ctx.now, next_attempt_at=ctx.now))


def _failed(ctx: Ctx, edit: PostmortemEdit, incident: Incident, error: str) -> None:
    _settle(ctx, edit, FAILED, error)
    if incident.channel_id:
        outbox.post(ctx.session, ctx.now, incident.channel_id, views.failed(incident, error), incident_id=incident.id,
                    purpose="postmortem")

