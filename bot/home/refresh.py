"""Keeping published Home tabs current without flooding Slack.

A commit that changes what Home tabs show (``bot.home.service.affected``) marks the people whose
tab it changed; one background thread publishes each marked person's tab, at most once every
``every`` seconds per person however many changes arrive (marks while one is due fold into it),
and at most one ``views.publish`` every ``pace`` seconds in all (Slack allows about 100 a minute
for the views methods, shared with the forms the bot opens: 60 leaves them room). Only people who
opened their Home tab lately are kept current: anyone else gets a fresh tab when they open it
(``app_home_opened``).

Not the outbox: a Home tab reports no change of its own, it shows the database as it is now, so a
publish that fails is simply done again at the next change or the next opening.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import structlog

log = structlog.get_logger(__name__)
Publish = Callable[[str, "str | None"], None]


class HomeRefresh:
    def __init__(self, publish: Publish, *, every: float = 5.0, pace: float = 1.0, viewers_for: float = 3600.0,
                 notice_for: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._publish = publish
        self.every = every
        self.pace = pace
        self.viewers_for = viewers_for
        self.notice_for = notice_for
        self._clock = clock
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}  # person → when their tab may be published next
        self._last: dict[str, float] = {}  # person → when it was last published
        self._viewers: dict[str, float] = {}  # person → when they last opened their Home tab
        self._notices: dict[str, tuple[str, float]] = {}  # person → the answer to their last click
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.published = 0
        """How many tabs were published since start (for tests and the benchmark)."""

    # -- what marks a tab ----------------------------------------------------------------------
    def opened(self, user: str) -> None:
        """The person opened their Home tab: keep it current from now on, and publish it."""
        with self._cond:
            self._viewers[user] = self._clock()
        self.mark([user])

    def tell(self, user: str, notice: str) -> None:
        """Show ``notice`` (the answer to a click on the tab) at the top of the person's tab for a while."""
        with self._cond:
            self._notices[user] = (notice, self._clock())
            self._viewers[user] = self._clock()
            self._due[user] = self._clock()  # the answer goes out now, not after the interval
            self._wake()

    def changed(self, users: frozenset[str] | None) -> None:
        """A commit changed these people's tabs (None: everyone's); only recent viewers are published."""
        now = self._clock()
        with self._cond:
            recent = {u for u, at in self._viewers.items() if now - at <= self.viewers_for}
        self.mark(recent if users is None else recent & users)

    def mark(self, users: Iterable[str]) -> None:
        with self._cond:
            now = self._clock()
            for user in users:
                if user not in self._due:
                    self._due[user] = max(now, self._last.get(user, float("-inf")) + self.every)
            self._wake()

    # -- the publishing thread ---------------------------------------------------------------------
    def _wake(self) -> None:
        if self._stopped:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="opsbot-home", daemon=True)
            self._thread.start()
        self._cond.notify()

    def _next(self) -> tuple[str, str | None] | None:
        """Wait for the next person due; None when stopped."""
        with self._cond:
            while not self._stopped:
                if self._due:
                    user, due = min(self._due.items(), key=lambda item: item[1])
                    wait = due - self._clock()
                    if wait <= 0:
                        del self._due[user]
                        self._last[user] = self._clock()
                        notice = self._notices.get(user)
                        if notice and self._clock() - notice[1] > self.notice_for:
                            del self._notices[user]
                            notice = None
                        return user, notice[0] if notice else None
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _loop(self) -> None:
        while (next_up := self._next()) is not None:
            user, notice = next_up
            try:
                self._publish(user, notice)
                self.published += 1
            except Exception:  # the next change or opening publishes it again
                log.warning("home_publish_failed", user=user, exc_info=True)
            with self._cond:  # the pace holds even when marks arrive meanwhile
                until = self._clock() + self.pace
                while not self._stopped and (left := until - self._clock()) > 0:
                    self._cond.wait(left)

    def pending(self) -> int:
        with self._cond:
            return len(self._due)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
