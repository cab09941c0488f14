"""Post-mortem rules: drafting, regenerating without losing what the team wrote, replacing when
asked. Functions of the unit of work's ``Ctx``; the Slack side (the canvas or the Markdown file) is
queued as ``PostmortemEdit`` rows for ``bot.postmortems.publish`` and announced through the outbox.

The bot cannot read a canvas back (Slack has no API for its content), so it never overwrites one on
its own: a regeneration adds the timeline entries and action items that are new at the end of their
sections, and when anything else in the draft would read differently (a later resolution, another
impact, a ticked checklist item) it asks in the channel, with a button, before replacing the draft.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from sqlmodel import col, select

from bot.followups import queries as followups
from bot.incidents import queries
from bot.incidents import service as incidents
from bot.postmortems import document, views
from bot.postmortems.document import Draft, Facts, Section
from bot.refusal import Refusal
from bot.slack import outbox
from bot.work import Ctx
from storage.models import Incident, StatusUpdate
from storage.postmortems import APPEND, PENDING, PUBLISH, REPLACE, Postmortem, PostmortemEdit


def facts(ctx: Ctx, incident: Incident) -> Facts:
    updates = list(ctx.session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
                                    .order_by(col(StatusUpdate.at), col(StatusUpdate.id))).all())
    return Facts(incident, queries.timeline(ctx.session, incident.id), queries.roles(ctx.session, incident.id),
                 queries.ticks(ctx.session, incident.id), updates, queries.linked_changes(ctx.session, incident.id),
                 followups.of_incident(ctx.session, incident.id))


def draft(ctx: Ctx, incident: Incident, by: str) -> str:
    """The first draft, or a regeneration of the stored one; the answer for whoever asked."""
    postmortem = ctx.session.exec(select(Postmortem).where(Postmortem.incident_id == incident.id)
                                  .with_for_update()).first()
    if postmortem is None:
        return _first(ctx, incident, by)
    stored = stored_draft(postmortem)
    if not stored.sections:  # drafted before drafts were kept in sections: publish a fresh one, whole
        fresh = document.build(ctx.playbook, facts(ctx, incident))
        _store(ctx, postmortem, fresh, by)
        _queue(ctx, postmortem, PUBLISH, fresh.markdown, by)
        return "Post-mortem drafted afresh; it will be in this channel in a moment."
    found = facts(ctx, incident)
    change = document.compare(ctx.playbook, stored, found)
    said: list[str] = []
    edits: list[PostmortemEdit] = []
    if change.new_entries:
        key = document.section_of(ctx.playbook, "timeline")
        lines = "\n".join(document.entry_line(ctx.playbook, incident, e) for e in change.new_entries)
        stored = document.appended(stored, key, lines, [e.id for e in change.new_entries if e.id], [])
        edits.append(_queue(ctx, postmortem, APPEND, lines, by, before=document.heading_after(stored, key)))
        said.append(_count(len(change.new_entries), "timeline entry", "timeline entries"))
    if change.new_followups:
        key = document.section_of(ctx.playbook, "action_items")
        rows = "\n".join(document.action_rows(change.new_followups))
        stored = document.appended(stored, key, rows, [], [f.id for f in change.new_followups if f.id])
        edits.append(_queue(ctx, postmortem, APPEND, f"{document.ACTION_HEADER}\n{rows}", by,
                            before=document.heading_after(stored, key)))
        said.append(_count(len(change.new_followups), "action item", "action items"))
    if edits:
        edits[-1].note = f"added {' and '.join(said)}"  # said once the last of them is in
    _store(ctx, postmortem, stored, by)
    answer = f"Added to the post-mortem: {' and '.join(said)}." if said else ""
    if change.changed:
        fresh = document.build(ctx.playbook, found)
        postmortem.pending_text, postmortem.pending_sections = fresh.markdown, _sections_json(fresh)
        if incident.channel_id:
            text, blocks = views.ask_to_replace(incident, postmortem, change.changed)
            outbox.post(ctx.session, ctx.now, incident.channel_id, text, blocks, incident_id=incident.id,
                        purpose="postmortem_ask")
        answer += (" " if answer else "") + ("Other parts would read differently now ("
                                             + ", ".join(change.changed) + "); the channel is asked before the "
                                             "draft is replaced.")
    return answer or "The post-mortem is up to date: nothing happened since it was drafted."


def replace(ctx: Ctx, incident: Incident, postmortem_id: int, by: str) -> str:
    """The channel said yes: the waiting fresh draft replaces the published one."""
    postmortem = ctx.session.exec(select(Postmortem).where(Postmortem.id == postmortem_id)
                                  .with_for_update()).first()
    if postmortem is None or postmortem.incident_id != incident.id:
        raise Refusal("That post-mortem no longer exists.")
    if not postmortem.pending_text or not postmortem.pending_sections:
        return "There is nothing waiting to replace the draft (it was replaced already, or `/incident postmortem` " \
               "has newer changes to show)."
    fresh = Draft(_sections(postmortem.pending_sections), _ids(postmortem.pending_sections, "timeline_ids"),
                  _ids(postmortem.pending_sections, "followup_ids"))
    _queue(ctx, postmortem, REPLACE, fresh.markdown, by, note="replaced with a fresh draft")
    postmortem.pending_text = postmortem.pending_sections = None
    _store(ctx, postmortem, fresh, by)
    incidents.record(ctx, incident, by, "postmortem", "Post-mortem draft replaced with a fresh one")
    return "Replacing the post-mortem draft with a fresh one."


def stored_draft(postmortem: Postmortem) -> Draft:
    return Draft(_sections(postmortem.sections), json.loads(postmortem.timeline_ids),
                 json.loads(postmortem.followup_ids))


def _first(ctx: Ctx, incident: Incident, by: str) -> str:
    incidents.record(ctx, incident, by, "postmortem", "Post-mortem drafted")
    incidents.happened(ctx, incident, "postmortem_drafted")
    ctx.session.flush()
    fresh = document.build(ctx.playbook, facts(ctx, incident))
    postmortem = Postmortem(incident_id=incident.id, created_at=ctx.now, created_by=by, text=fresh.markdown)
    _store(ctx, postmortem, fresh, by)
    ctx.session.add(postmortem)
    ctx.session.flush()
    _queue(ctx, postmortem, PUBLISH, fresh.markdown, by)
    where = "this channel's canvas" if ctx.playbook.record.postmortem.canvas else "a Markdown file in this channel"
    return f"Post-mortem drafted; it will be {where} in a moment."


def _store(ctx: Ctx, postmortem: Postmortem, draft_: Draft, by: str) -> None:
    postmortem.text, postmortem.sections = draft_.markdown, json.dumps([asdict(s) for s in draft_.sections])
    postmortem.timeline_ids, postmortem.followup_ids = json.dumps(draft_.timeline_ids), json.dumps(
        draft_.followup_ids)
    postmortem.updated_at, postmortem.updated_by = ctx.now, by


def _queue(ctx: Ctx, postmortem: Postmortem, op: str, markdown: str, by: str, *, before: str | None = None,
           note: str = "") -> PostmortemEdit:
    assert postmortem.id is not None
    edit = PostmortemEdit(postmortem_id=postmortem.id, op=op, markdown=ctx.redact(markdown), before=before, by=by,
                          note=note, state=PENDING, created_at=ctx.now, next_attempt_at=ctx.now)
    ctx.session.add(edit)
    return edit


def _sections_json(draft_: Draft) -> str:
    return json.dumps({"sections": [asdict(s) for s in draft_.sections], "timeline_ids": draft_.timeline_ids,
                       "followup_ids": draft_.followup_ids})


def _sections(text: str) -> list[Section]:
    data = json.loads(text)
    items = data["sections"] if isinstance(data, dict) else data
    return [Section(**item) for item in items]


def _ids(text: str, name: str) -> list[int]:
    return [int(i) for i in json.loads(text)[name]]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
