"""Messages from Slack on an incident's timeline: the rules.

Messages in incident channels are kept as their Events API deliveries arrive (``seen``), so a
timeline reaction finds the message it marks without reading the channel's history. A message is
on the timeline while someone marks it: a reaction with one of the pack's timeline emoji, or the
"Add to incident timeline" shortcut (``TimelineMark``); removing the last mark takes it off. Its
entry keeps the author, the message's own time, its text and where it came from, so an edit in
Slack updates the entry and a deletion marks it deleted. A reacted-to message the bot never saw
(posted while it was away) is read from history once, later (``bot.timeline.history``).

Nothing here calls Slack; the permalink of a new entry is looked up after its commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from bot.incidents import queries
from bot.work import Ctx
from storage.models import Incident, TimelineEntry
from storage.timeline import DONE, MISSING, PENDING, SHORTCUT, ChannelMessage, HistoryRead, SlackEvent, TimelineMark

MESSAGE = "message"
"""``TimelineEntry.kind`` of a captured message."""
HISTORY_GRACE = timedelta(minutes=1)
"""A reaction can outrun its message's own event: history is read only if the message has not
arrived by then."""


@dataclass(frozen=True)
class SlackMessage:
    """A message as an event or a shortcut describes it."""

    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class Captured:
    """A message newly on a timeline; its permalink is still to be looked up."""

    incident_id: int
    channel: str
    ts: str


def posted_at(ts: str) -> datetime:
    """A message's own time, from its Slack timestamp."""
    return datetime.fromtimestamp(float(ts), UTC)


def handled(ctx: Ctx, event_id: str | None) -> None:
    """Record a delivery that changed something, in the same transaction: a retry of the same
    ``event_id`` (``X-Slack-Retry-Num``) then fails on the unique key and changes nothing."""
    if event_id:
        ctx.session.add(SlackEvent(event_id=event_id, received_at=ctx.now))
        ctx.session.flush()


def is_timeline_emoji(ctx: Ctx, reaction: str) -> bool:
    """The pack's timeline emoji; a skin tone (``+1::skin-tone-2``) is the same emoji."""
    return reaction.split("::")[0] in ctx.playbook.record.timeline.emoji


def seen(ctx: Ctx, message: SlackMessage) -> bool:
    """A new message in a channel. Kept if the channel is an incident's; a mark that arrived before
    it (a reaction outrunning the message's own event) puts it on the timeline now."""
    incident = queries.by_channel(ctx.session, message.channel)
    if incident is None:
        return False
    stored = _remember(ctx, message)
    _put_on_timelines(ctx, stored)
    return True


def edited(ctx: Ctx, message: SlackMessage) -> bool:
    """A message's new text: its stored copy and every timeline entry of it follow."""
    stored = _stored(ctx, message.channel, message.ts)
    entries = _entries_of(ctx, message.channel, message.ts)
    if stored is None and not entries:
        return seen(ctx, message)  # in an incident channel but older than what the bot kept
    if stored is not None:
        stored.text, stored.edited_at = message.text, ctx.now
    for entry in entries:
        entry.text, entry.edited_at = message.text, ctx.now
    return True


def deleted(ctx: Ctx, channel: str, ts: str) -> bool:
    stored = _stored(ctx, channel, ts)
    entries = _entries_of(ctx, channel, ts)
    if stored is not None:
        stored.deleted_at = ctx.now
    for entry in entries:
        entry.deleted_at = ctx.now
    return stored is not None or bool(entries)


def reacted(ctx: Ctx, channel: str, ts: str, user: str, reaction: str) -> Captured | None | bool:
    """A timeline emoji on a message in an incident channel: the message is marked, and on the
    timeline unless it already was. Returns what was captured, True when the reaction changed
    something else (another mark, or a history read owed), False when it was not for us."""
    if not is_timeline_emoji(ctx, reaction):
        return False
    incident = queries.by_channel(ctx.session, channel)
    if incident is None:
        return False
    return _mark(ctx, incident, channel, ts, user, reaction.split("::")[0])


def unreacted(ctx: Ctx, channel: str, ts: str, user: str, reaction: str) -> bool:
    """A timeline emoji taken off: without any mark left, the message leaves the timeline."""
    if not is_timeline_emoji(ctx, reaction):
        return False
    incident = queries.by_channel(ctx.session, channel)
    if incident is None:
        return False
    removed = ctx.session.exec(delete(TimelineMark).where(  # type: ignore[call-overload]
        col(TimelineMark.incident_id) == incident.id, col(TimelineMark.channel_id) == channel,
        col(TimelineMark.ts) == ts, col(TimelineMark.user_id) == user,
        col(TimelineMark.via) == reaction.split("::")[0]))
    if not removed.rowcount:
        return False
    if _marks(ctx, incident.id, channel, ts) == 0:
        entry = _entry(ctx, incident.id, channel, ts)
        if entry is not None:
            ctx.session.delete(entry)
        if not _wanted_elsewhere(ctx, channel, ts):
            _settle_read(ctx, channel, ts)
    return True


def remember(ctx: Ctx, message: SlackMessage) -> None:
    """A message someone is about to add with the shortcut, from any channel: kept, so the form's
    submission finds it and an edit reaches its entry."""
    _remember(ctx, message)


def add_with_shortcut(ctx: Ctx, incident: Incident, channel: str, ts: str, by: str) -> Captured | None:
    """The shortcut's form was submitted for ``incident``: the message is marked by ``by``. None
    when it was on that timeline already."""
    captured = _mark(ctx, incident, channel, ts, by, SHORTCUT)
    return captured if isinstance(captured, Captured) else None


def set_permalink(ctx: Ctx, captured: Captured, permalink: str) -> None:
    entry = _entry(ctx, captured.incident_id, captured.channel, captured.ts)
    if entry is not None and not entry.permalink:
        entry.permalink = permalink


def found_in_history(ctx: Ctx, message: SlackMessage | None, channel: str, ts: str) -> list[Captured]:
    """The history read owed for a marked message came back (``None``: the message is gone)."""
    _settle_read(ctx, channel, ts, DONE if message else MISSING)
    if message is None:
        return []
    return _put_on_timelines(ctx, _remember(ctx, message))


# -- below: the books ---------------------------------------------------------------------------------
def _mark(ctx: Ctx, incident: Incident, channel: str, ts: str, user: str, via: str) -> Captured | bool:
    assert incident.id is not None
    exists = ctx.session.exec(select(TimelineMark.id).where(
        TimelineMark.incident_id == incident.id, TimelineMark.channel_id == channel, TimelineMark.ts == ts,
        TimelineMark.user_id == user, TimelineMark.via == via)).first()
    if exists is not None:
        return False
    ctx.session.add(TimelineMark(incident_id=incident.id, channel_id=channel, ts=ts, user_id=user, via=via,
                                 at=ctx.now))
    if _entry(ctx, incident.id, channel, ts) is not None:
        return True
    stored = _stored(ctx, channel, ts)
    if stored is None:
        _owe_read(ctx, channel, ts)
        return True
    _add_entry(ctx, incident.id, stored)
    return Captured(incident.id, channel, ts)


def _put_on_timelines(ctx: Ctx, stored: ChannelMessage) -> list[Captured]:
    """Entries for every incident whose marks were waiting for this message."""
    waiting = ctx.session.exec(select(TimelineMark.incident_id).where(
        TimelineMark.channel_id == stored.channel_id, TimelineMark.ts == stored.ts).distinct()).all()
    captured = []
    for incident_id in waiting:
        if _entry(ctx, incident_id, stored.channel_id, stored.ts) is None:
            _add_entry(ctx, incident_id, stored)
            captured.append(Captured(incident_id, stored.channel_id, stored.ts))
    if waiting:
        _settle_read(ctx, stored.channel_id, stored.ts)
    return captured


def _add_entry(ctx: Ctx, incident_id: int, stored: ChannelMessage) -> None:
    ctx.session.add(TimelineEntry(
        incident_id=incident_id, at=stored.posted_at, author=stored.user, kind=MESSAGE, text=stored.text,
        message_channel=stored.channel_id, message_ts=stored.ts, edited_at=stored.edited_at,
        deleted_at=stored.deleted_at))
    ctx.session.flush()


def _remember(ctx: Ctx, message: SlackMessage) -> ChannelMessage:
    stored = _stored(ctx, message.channel, message.ts)
    if stored is None:
        stored = ChannelMessage(channel_id=message.channel, ts=message.ts, thread_ts=message.thread_ts,
                                user=message.user, text=message.text, posted_at=posted_at(message.ts))
        ctx.session.add(stored)
        ctx.session.flush()
    return stored


def _stored(ctx: Ctx, channel: str, ts: str) -> ChannelMessage | None:
    return ctx.session.exec(select(ChannelMessage).where(ChannelMessage.channel_id == channel,
                                                         ChannelMessage.ts == ts)).first()


def _entry(ctx: Ctx, incident_id: int | None, channel: str, ts: str) -> TimelineEntry | None:
    return ctx.session.exec(select(TimelineEntry).where(
        TimelineEntry.incident_id == incident_id, TimelineEntry.message_channel == channel,
        TimelineEntry.message_ts == ts)).first()


def _entries_of(ctx: Ctx, channel: str, ts: str) -> list[TimelineEntry]:
    return list(ctx.session.exec(select(TimelineEntry).where(
        TimelineEntry.message_channel == channel, TimelineEntry.message_ts == ts)).all())


def _marks(ctx: Ctx, incident_id: int | None, channel: str, ts: str) -> int:
    return len(ctx.session.exec(select(TimelineMark.id).where(
        TimelineMark.incident_id == incident_id, TimelineMark.channel_id == channel, TimelineMark.ts == ts)).all())


def _wanted_elsewhere(ctx: Ctx, channel: str, ts: str) -> bool:
    return ctx.session.exec(select(TimelineMark.id).where(TimelineMark.channel_id == channel,
                                                          TimelineMark.ts == ts)).first() is not None


def _owe_read(ctx: Ctx, channel: str, ts: str) -> None:
    owed = ctx.session.exec(select(HistoryRead).where(HistoryRead.channel_id == channel,
                                                      HistoryRead.ts == ts)).first()
    if owed is None:  # once per message, ever: a read that found nothing is not tried again
        ctx.session.add(HistoryRead(channel_id=channel, ts=ts, requested_at=ctx.now,
                                    due_at=ctx.now + HISTORY_GRACE))


def _settle_read(ctx: Ctx, channel: str, ts: str, state: str = DONE) -> None:
    owed = ctx.session.exec(select(HistoryRead).where(HistoryRead.channel_id == channel, HistoryRead.ts == ts,
                                                      HistoryRead.state == PENDING)).first()
    if owed is not None:
        owed.state, owed.due_at = state, None
