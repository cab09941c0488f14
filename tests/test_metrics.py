"""``GET /metrics`` of a running bot on a recorded history with known answers, and the monitoring
that ships in docs/monitoring: the alerting rules checked and unit-tested by the real ``promtool``
(Debian's ``prometheus``), the scrape linted by it, and the Grafana dashboard's queries naming only
metrics the bot exports."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from bot.metrics import Metrics
from playbooks.loader import load_playbook
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Incident, OutboundMessage
from storage.runs import Run
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")

MONITORING = Path(__file__).resolve().parent.parent / "docs" / "monitoring"
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: ./dev bootstrap installs Debian's prometheus package"
    return found


def history(session: Session) -> None:
    """Three incidents, five runs and three Slack calls, with known figures."""
    at = lambda hh, mm: NOW.replace(hour=hh, minute=mm)  # noqa: E731 - a short local spelling
    session.add(Incident(title="resolved", severity="P1", phase="document", declared_by="U0ALICE", status="resolved",
                         declared_at=at(8, 0), acknowledged_at=at(8, 10), resolved_at=at(9, 0)))
    session.add(Incident(title="late update", severity="P2", phase="contain", declared_by="U0ALICE",
                         declared_at=at(9, 0), acknowledged_at=at(9, 20), next_update_at=at(9, 10)))
    session.add(Incident(title="fresh", severity="P0", phase="detect", declared_by="U0ALICE",
                         declared_at=at(9, 25), next_update_at=at(9, 40)))

    def ran(action: str, status: str, finished: datetime | None) -> Run:
        return Run(action=action, params="{}", risk="low", approvals_needed=0, requested_by="U0ALICE",
                   requested_in="C0PLATFORM", source="command", plan="[]", status=status,
                   requested_at=(finished or NOW) - timedelta(minutes=5), finished_at=finished)

    session.add(ran("backup.run", "succeeded", at(5, 30)))  # the last verified backup: 4 h ago
    session.add(ran("backup.run", "failed", at(9, 0)))  # a failed one verifies nothing
    session.add(ran("backup.restore_test", "succeeded", NOW - timedelta(days=9)))
    session.add(ran("backup.run", "succeeded", at(1, 0)))
    session.add(ran("maintenance.enable", "pending", None))
    later = NOW + timedelta(hours=1)  # not due: nothing delivers them during the test
    for created, state in ((at(9, 20), "pending"), (at(9, 25), "sending"), (at(9, 0), "sent")):
        session.add(OutboundMessage(method="chat.postMessage", channel="C0PLATFORM", args="{}", state=state,
                                    created_at=created, next_attempt_at=later))
    session.commit()


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotUnderTest]:
    folder = tmp_path_factory.mktemp("metrics")
    with running_bot(folder, f"sqlite:///{folder}/opsbot.db", FakeClock(NOW)) as running:
        with Session(running.engine) as session:
            history(session)
        yield running


@pytest.fixture(scope="module")
def scrape(bot: BotUnderTest) -> str:
    response = httpx.get(f"{bot.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_figures_on_a_known_history(scrape: str) -> None:
    check_figures(samples(scrape))


@pytest.mark.kind("integration")
def test_the_same_figures_on_postgresql(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            history(session)
        check_figures(samples(Metrics(engine, load_playbook(None), FakeClock(NOW)).render().decode()))
    finally:
        engine.dispose()


def check_figures(got: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert [value("opsbot_incidents_open", severity=s) for s in ("P0", "P1", "P2", "P3")] == [1, 0, 1, 0]
    assert value("opsbot_incident_updates_overdue", severity="P2") == 1  # due 09:10, none posted
    assert value("opsbot_incident_updates_overdue", severity="P0") == 0  # due 09:40
    tta = "opsbot_incident_time_to_acknowledge_seconds"
    assert value(f"{tta}_bucket", severity="P1", le="300.0") == 0
    assert value(f"{tta}_bucket", severity="P1", le="900.0") == 1  # 10 min, within P1's 15-minute bound
    assert value(f"{tta}_bucket", severity="P2", le="900.0") == 0
    assert value(f"{tta}_bucket", severity="P2", le="1800.0") == 1  # 20 min
    assert (value(f"{tta}_count", severity="P0"), value(f"{tta}_sum", severity="P2")) == (0, 1200)
    ttr = "opsbot_incident_time_to_resolve_seconds"
    assert value(f"{ttr}_bucket", severity="P1", le="1800.0") == 0
    assert value(f"{ttr}_bucket", severity="P1", le="3600.0") == 1
    assert value(f"{ttr}_bucket", severity="P1", le="+Inf") == value(f"{ttr}_count", severity="P1") == 1
    assert value("opsbot_executor_runs_total", action="backup.run", outcome="succeeded") == 2
    assert value("opsbot_executor_runs_total", action="backup.run", outcome="failed") == 1
    assert value("opsbot_executor_runs_unfinished", action="maintenance.enable", status="pending") == 1
    assert value("opsbot_backup_last_verified_age_seconds") == 4 * 3600
    assert value("opsbot_backup_rpo_seconds") == 6 * 3600
    assert value("opsbot_restore_test_last_success_age_seconds") == 9 * 86400
    assert value("opsbot_restore_test_last_success_timestamp_seconds") == (NOW - timedelta(days=9)).timestamp()
    assert value("opsbot_outbox_queued_calls") == 2  # pending and sending; the sent one is not queued
    assert value("opsbot_outbox_oldest_queued_age_seconds") == 600
    assert value("opsbot_alert_webhooks_total", outcome="received") == 0


def test_a_fresh_bot_reports_no_backup_ever_as_infinitely_old(tmp_path: Path) -> None:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(NOW)) as fresh:
        got = samples(httpx.get(f"{fresh.url}/metrics").text)
    assert math.isinf(got[("opsbot_backup_last_verified_age_seconds", ())])
    assert got[("opsbot_outbox_queued_calls", ())] == 0 and got[("opsbot_outbox_oldest_queued_age_seconds", ())] == 0


def test_promtool_accepts_the_scrape(scrape: str) -> None:
    linted = subprocess.run([promtool(), "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=30)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_alerting_rules_load_and_pass_their_unit_tests() -> None:
    checked = subprocess.run([promtool(), "check", "rules", "opsbot-rules.yml"], cwd=MONITORING,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS: 4 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([promtool(), "test", "rules", "opsbot-rules.test.yml"], cwd=MONITORING,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {rule["alert"] for group in yaml.safe_load((MONITORING / "opsbot-rules.yml").read_text())["groups"]
              for rule in group["rules"]}
    assert alerts == {"OpsbotBackupOlderThanRPO", "OpsbotRestoreTestOverdue", "OpsbotSchedulerLagging",
                      "OpsbotOutboxStuck"}


METRIC = re.compile(r"\bopsbot_[a-z0-9_]+")


def test_the_dashboard_and_the_rules_name_only_metrics_the_bot_exports(scrape: str) -> None:
    exported = {name for name, _ in samples(scrape)}
    dashboard = json.loads((MONITORING / "opsbot-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(queries) >= 10
    named = {m for query in queries for m in METRIC.findall(query)}
    named |= set(METRIC.findall((MONITORING / "opsbot-rules.yml").read_text()))
    assert named - exported == set()
    assert {"opsbot_incident_time_to_acknowledge_seconds_bucket", "opsbot_outbox_oldest_queued_age_seconds",
            "opsbot_executor_runs_total", "opsbot_scheduler_lag_seconds"} <= named
