"""Which backups to keep: restic's ``forget --keep-daily D --keep-weekly W --keep-monthly M``.

Newest first, each rule keeps a backup when its period (day, ISO week, month) differs from the last
one that rule kept, while the rule has count left; rules are OR-ed, so one backup can fill a
daily, a weekly and a monthly slot. Only periods that have backups count. A rule with count left
at the end keeps the oldest backup too.

Like restic, which applies the policy to each group of snapshots (by host and paths) separately,
each kind of backup is its own series: the 6-hourly database backups must not push the nightly
full backups (the only ones holding the files) out of the daily slots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.ops.backup.layout import Backup
from playbooks.backups import Retention

Bucket = Callable[[datetime], str]
RULES: tuple[tuple[str, Bucket], ...] = (
    ("daily", lambda t: t.strftime("%Y%m%d")),
    ("weekly", lambda t: f"{t.isocalendar()[0]:04d}{t.isocalendar()[1]:02d}"),
    ("monthly", lambda t: t.strftime("%Y%m")),
)


@dataclass
class Decision:
    when: datetime
    keep: bool
    reasons: list[str] = field(default_factory=list)


def apply_policy(times: Sequence[datetime], policy: Retention) -> list[Decision]:
    """A decision per backup time, newest first."""
    counts = {"daily": policy.daily, "weekly": policy.weekly, "monthly": policy.monthly}
    last: dict[str, str | None] = {name: None for name, _ in RULES}
    ordered = sorted(times, reverse=True)
    decisions = []
    for when in ordered:
        decision = Decision(when, keep=False)
        for name, bucket in RULES:
            period = bucket(when)
            if counts[name] > 0 and period != last[name]:
                last[name] = period
                counts[name] -= 1
                decision.keep = True
                decision.reasons.append(f"{name} {period}")
        decisions.append(decision)
    if decisions and not decisions[-1].keep:
        rules_left = [name for name, _ in RULES if counts[name] > 0 and getattr(policy, name) > 0]
        if rules_left:
            decisions[-1].keep = True
            decisions[-1].reasons.append("oldest (" + ", ".join(rules_left) + " not full)")
    return decisions


def to_forget(backups: Sequence[Backup], policy: Retention) -> list[Backup]:
    """The backups the policy does not keep, newest first, the policy applied per kind."""
    forget: list[Backup] = []
    for kind in sorted({b.kind for b in backups}):
        series = {b.created_at: b for b in backups if b.kind == kind}
        forget += [series[d.when] for d in apply_policy(list(series), policy) if not d.keep]
    return sorted(forget, key=lambda b: b.created_at, reverse=True)
