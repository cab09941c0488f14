"""The status page as history grows: it reads only open and recently resolved incidents, shows them
a page at a time, and is served from a cache that a change in this process rebuilds at once (off the
request pool), another replica's change within ``MAX_AGE``, and a change it does not show not at all;
a client polling with its ETag gets 304 until something shown changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.public.cache import MAX_AGE
from bot.public.status import PAGE_SIZE
from storage.db import make_engine
from storage.models import Incident
from storage.public import INITIAL, PUBLISHED, RESOLUTION, CustomerNotice
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, database_url, FakeClock()) as running:
        yield running


def publish(engine: Engine, title: str, declared: datetime, resolved: datetime | None = None, *,
            resolution_notice: bool = True) -> int:
    """An incident with its published initial notice, and when resolved, its resolution notice."""
    with Session(engine) as session:
        incident = Incident(title=f"internal {title}", severity="P2", status="resolved" if resolved else "open",
                            phase="investigate", declared_by="U0ALICE", declared_at=declared, resolved_at=resolved)
        session.add(incident)
        session.flush()
        kinds = [(INITIAL, declared)] + ([(RESOLUTION, resolved)] if resolved and resolution_notice else [])
        for kind, at in kinds:
            session.add(CustomerNotice(incident_id=incident.id, kind=kind, public_title=title, impact="Errors",
                                       body=f"{kind} of {title}", status=PUBLISHED, drafted_by="U0JUDY",
                                       drafted_at=at, approved_by="U0BOB", published_at=at))
        session.commit()
        assert incident.id is not None
        return incident.id


def get(bot: BotUnderTest, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{bot.url}{path}", headers=headers, timeout=10)


def test_only_open_and_recent_incidents_a_page_at_a_time(bot: BotUnderTest) -> None:
    now = bot.clock()
    ongoing = [f"Ongoing {n:02d}" for n in range(PAGE_SIZE + 10)]  # newest first
    for n, title in enumerate(ongoing):
        publish(bot.engine, title, now - timedelta(minutes=n + 1))
    past = [f"Past {n:02d}" for n in range(15)]
    for n, title in enumerate(past):
        publish(bot.engine, title, now - timedelta(days=n + 1, hours=2), now - timedelta(days=n + 1))
    publish(bot.engine, "Long ago", now - timedelta(days=40, hours=2), now - timedelta(days=40))
    publish(bot.engine, "Long ago, never announced resolved", now - timedelta(days=41), now - timedelta(days=40),
            resolution_notice=False)

    pages = [get(bot, f"/status.json?page={n}").json() for n in (1, 2, 3)]
    assert [p["pages"] for p in pages] == [3, 3, 3] and all(p["ongoing"] == len(ongoing) for p in pages)
    assert [len(p["incidents"]) + len(p["history"]) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [i["title"] for p in pages for i in p["incidents"]] == ongoing
    assert [i["title"] for p in pages for i in p["history"]] == past
    assert all(i["resolved_at"] for p in pages for i in p["history"])

    second = get(bot, "/status?page=2").text
    assert 'href="?page=1"' in second and 'href="?page=3"' in second and "Page 2 of 3" in second
    assert "30 ongoing incident(s)" in second and "Long ago" not in second
    assert get(bot, "/status.json?page=4").status_code == 404
    for bad in ("0", "two", "-1", "9" * 30):
        answer = get(bot, f"/status?page={bad}")
        assert answer.status_code == 400 and "page must be a whole number" in answer.text, bad
    assert "error" in get(bot, "/status.json?page=x").json()


def test_the_cache_is_rebuilt_when_what_it_shows_changes_and_only_then(bot: BotUnderTest, database_url: str) -> None:
    now = bot.clock()
    first = publish(bot.engine, "First outage", now - timedelta(minutes=5))
    page = get(bot, "/status")
    etag = page.headers["etag"]
    assert "First outage" in page.text and page.headers["cache-control"] == "max-age=30"
    assert get(bot, "/status", **{"If-None-Match": etag}).status_code == 304

    replica = make_engine(database_url)  # another replica's change: not seen by this process's commits
    try:
        publish(replica, "Seen by the other replica", now - timedelta(minutes=1))
    finally:
        replica.dispose()
    with Session(bot.engine) as session:  # what the page does not show changes: no rebuild
        session.exec(update(Incident).where(col(Incident.id) == first)  # type: ignore[call-overload]
                     .values(next_update_at=now + timedelta(minutes=30)))
        session.get(Incident, first).last_update_at = now  # type: ignore[union-attr]
        session.commit()
    cached = get(bot, "/status", **{"If-None-Match": etag})
    assert cached.status_code == 304 and "Seen by the other replica" not in get(bot, "/status").text

    bot.clock.advance(MAX_AGE)  # the other replica's change shows within max-age
    assert "Seen by the other replica" in get(bot, "/status").text
    assert get(bot, "/status", **{"If-None-Match": etag}).status_code == 200

    release = threading.Event()
    busy = [bot.rt.quick_pool.submit(release.wait, 30) for _ in range(2)]  # every request thread taken
    try:
        publish(bot.engine, "Published just now", now)  # a change in this process: the next request sees it
        assert "Published just now" in get(bot, "/status").text
        assert get(bot, "/status.json").json()["ongoing"] == 3
        assert not any(task.done() for task in busy)  # served and rebuilt without the request pool
    finally:
        release.set()
    with Session(bot.engine) as session:  # announced resolved while the incident is still open
        session.add(CustomerNotice(incident_id=first, kind=RESOLUTION, public_title="First outage", impact="Errors",
                                   body="Fixed", status=PUBLISHED, drafted_by="U0JUDY", drafted_at=now,
                                   approved_by="U0BOB", published_at=now - timedelta(minutes=2)))
        session.commit()
    [shown] = get(bot, "/status.json").json()["history"]
    assert shown["resolved_at"] == (now - timedelta(minutes=2)).isoformat()
    with Session(bot.engine) as session:  # the incident's own resolution time is what the page states
        session.get(Incident, first).resolved_at = now - timedelta(minutes=3)  # type: ignore[union-attr]
        session.commit()
    [shown] = get(bot, "/status.json").json()["history"]
    assert shown["resolved_at"] == (now - timedelta(minutes=3)).isoformat()
