"""The status page, cached: built once per change of what it shows (or once ``MAX_AGE``, for another
replica's changes and for time passing), on a thread of its own, and served from memory on the event
loop. Customers refresh it most during an outage, exactly when responders need the bot: no amount of
status-page traffic takes a database connection or a thread of the request pool (``rt.run``).

A change is noticed when it commits in this process: any session on the bot's engine that writes a
published customer notice, a maintenance window, or an incident's start or resolution marks itself,
and its commit invalidates the page; the next request waits for the one rebuild (requests arriving
meanwhile share it), so a notice just approved is on the page at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from bot.clock import Clock
from bot.public import render
from bot.public.status import StatusPage, paged
from storage.models import Incident
from storage.public import PUBLISHED, CustomerNotice
from storage.windows import MaintenanceWindow

log = structlog.get_logger(__name__)
MAX_AGE = timedelta(seconds=30)
"""What ``Cache-Control: max-age`` promises clients, and how stale another replica's change may be."""
_CHANGED = "status_page_changed"  # session.info flag: this transaction changes what the page shows
_INCIDENT_FIELDS = ("declared_at", "resolved_at", "status")
_TABLES = {CustomerNotice.__tablename__, MaintenanceWindow.__tablename__}
_watchers: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Served:
    body: bytes
    etag: str


def watch(engine: Engine, changed: Callable[[], None]) -> None:
    """Call ``changed`` after each commit on ``engine`` that changes what the status page shows."""
    _watchers.setdefault(engine, []).append(changed)


def _shown(instance: object) -> bool:
    if isinstance(instance, CustomerNotice):
        return instance.status == PUBLISHED
    if isinstance(instance, MaintenanceWindow):
        return True
    if isinstance(instance, Incident):
        state = inspect(instance)
        return state.deleted or any(state.attrs[f].history.has_changes() for f in _INCIDENT_FIELDS)
    return False


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: object, _instances: object) -> None:
    if not session.info.get(_CHANGED) and any(
            _shown(i) for rows in (session.new, session.dirty, session.deleted) for i in rows):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _statement(state: ORMExecuteState) -> None:
    """Bulk updates and deletes (approving a notice, a window's state) bypass the flush."""
    if (state.is_update or state.is_delete) and getattr(state.statement, "table", None) is not None \
            and state.statement.table.name in _TABLES:  # type: ignore[attr-defined]
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        bind = session.get_bind()
        for changed in _watchers.get(bind, ()) if isinstance(bind, Engine) else ():
            changed()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    session.info.pop(_CHANGED, None)


class StatusPageCache:
    def __init__(self, build: Callable[[], StatusPage], clock: Clock) -> None:
        self._build = build
        self._clock = clock
        self._lock = threading.Lock()
        self._changes = 0
        self._page: StatusPage | None = None
        self._built_from = -1
        self._rendered: dict[tuple[str, int], Served | None] = {}
        self._building: asyncio.Future[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsbot-status")

    def changed(self) -> None:
        """What the page shows changed (called from whichever thread committed it)."""
        with self._lock:
            self._changes += 1

    def _fresh(self) -> bool:
        page = self._page
        return page is not None and self._built_from == self._changes and self._clock() < page.generated_at + MAX_AGE

    async def served(self, kind: str, number: int) -> Served | None:
        """Page ``number`` as ``kind`` ("html" or "json"), rendered once per build; None past the
        last page. Raises when the page was never built and cannot be (the database is down); an
        older page is served rather than none."""
        for _ in range(3):  # under a stream of changes, a page at most two builds old
            if self._fresh():
                break
            try:
                await self._rebuild()
            except Exception:
                if self._page is None:
                    raise
                log.exception("status_page_rebuild_failed")
                break
        key = (kind, number)
        if key not in self._rendered:
            self._rendered[key] = self._render(kind, number)
        return self._rendered[key]

    def _render(self, kind: str, number: int) -> Served | None:
        assert self._page is not None
        shown = paged(self._page, number)
        if shown is None:
            return None
        body = (render.html(shown).encode() if kind == "html" else
                json.dumps(render.as_json(shown), ensure_ascii=False, separators=(",", ":")).encode())
        # the ETag is what this page shows, not when it was built: a rebuild that changed nothing
        # still answers 304
        shown_now = (shown.current, shown.history, shown.pages, len(self._page.current), self._page.maintenance)
        digest = hashlib.blake2b(repr(shown_now).encode(), digest_size=12).hexdigest()
        return Served(body, f'"{digest}-{kind}-{number}"')

    async def _rebuild(self) -> None:
        if self._building is None or self._building.done():
            self._building = asyncio.ensure_future(self._build_once())
        await asyncio.shield(self._building)

    async def _build_once(self) -> None:
        changes = self._changes
        page = await asyncio.get_running_loop().run_in_executor(self._pool, self._build)
        self._page, self._built_from, self._rendered = page, changes, {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
