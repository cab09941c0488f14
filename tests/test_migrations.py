"""The migrations are one line, the models and the migrated schema agree (Alembic's autogenerate
finds nothing to do) on SQLite and PostgreSQL, a database left at the six heads of the old
branches upgrades onto the line with its rows, and docs/architecture.md names the head that new
work chains from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import storage.alerts  # noqa: F401  (every table module, as the migrations' env imports them)
import storage.changes  # noqa: F401
import storage.followups  # noqa: F401
import storage.models  # noqa: F401
import storage.oncall  # noqa: F401
import storage.postmortems  # noqa: F401
import storage.public  # noqa: F401
import storage.run_questions  # noqa: F401
import storage.runs  # noqa: F401
import storage.timeline  # noqa: F401
import storage.windows  # noqa: F401
from storage.db import make_engine
from storage.migrate import alembic_config, upgrade

pytestmark = pytest.mark.kind("unit")

OLD_HEADS = ("0002_alerts", "0002_executor", "0003_changes", "0003_maintenance_mode", "0003_public", "0003_windows")
ARCHITECTURE = Path(__file__).parent.parent / "docs" / "architecture.md"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def heads(engine: Engine) -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def test_one_head_named_in_the_architecture_document(tmp_path: Path) -> None:
    [head] = heads(make_engine(f"sqlite:///{tmp_path}/none.db"))
    assert f"`{head}`" in ARCHITECTURE.read_text(), "docs/architecture.md names the current Alembic head"


def test_the_migrated_schema_is_what_the_models_declare(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       SQLModel.metadata)
    assert differences == []


def test_a_database_at_the_old_heads_moves_onto_the_line_with_its_rows(engine: Engine) -> None:
    config = alembic_config(engine)
    for head in OLD_HEADS:  # as every release before the merge left it
        command.upgrade(config, head)
    now = datetime(2026, 11, 30, tzinfo=UTC).isoformat(" ")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO run (id, action, params, risk, approvals_needed, requested_by, requested_in, source, "
            "status, plan, requested_at, outcome, output, produced) VALUES (7, 'maintenance.enable', '{}', 'high', "
            "1, 'U0ALICE', 'C0OPS', 'command', 'running', '[]', :now, '', '', '{}')"), {"now": now})
        connection.execute(text("INSERT INTO run_question (run_id, asked_at, text, choices) "
                                "VALUES (7, :now, 'Keep waiting?', '[]')"), {"now": now})
    upgrade(engine)
    with engine.connect() as connection:
        assert [tuple(r) for r in connection.execute(text("SELECT run_id, text FROM run_question"))] == [
            (7, "Keep waiting?")]
        assert [r[0] for r in connection.execute(text("SELECT version_num FROM alembic_version"))] == heads(engine)
    with pytest.raises(IntegrityError), engine.begin() as connection:  # the run it belongs to must exist
        connection.execute(text("INSERT INTO run_question (run_id, asked_at, text, choices) "
                                "VALUES (8, :now, 'Orphan?', '[]')"), {"now": now})


def test_a_post_mortem_drafted_before_the_incident_record_upgrades_with_an_empty_stored_draft(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0005_run_question_fk")
    now = datetime(2026, 11, 30, tzinfo=UTC).isoformat(" ")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO incident (id, title, description, severity, status, phase, declared_by, declared_at, "
            "provision_attempts, missed_updates, escalation_level) VALUES (1, 'Old', '', 'P2', 'resolved', 'document', "
            "'U0ALICE', :now, 0, 0, 0)"), {"now": now})
        connection.execute(text("INSERT INTO postmortem (incident_id, created_at, created_by, text) "
                                "VALUES (1, :now, 'U0ALICE', '# Incident Post-Mortem: INC-0001')"), {"now": now})
    upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT text, sections, timeline_ids, format FROM postmortem")).one()
    assert tuple(row) == ("# Incident Post-Mortem: INC-0001", "[]", "[]", None)


def test_duplicate_firings_of_an_alert_merge_into_the_latest(engine: Engine) -> None:
    """Before 0014 each (fingerprint, start time) was a row: the older firings stayed firing, so the
    group never resolved. The upgrade keeps the latest; a group left with nothing firing resolves
    and its summary is due (the pump then asks its open incident to resolve)."""
    command.upgrade(alembic_config(engine), "0008_incident_record")
    at = [datetime(2026, 11, 30, h, tzinfo=UTC).isoformat(" ") for h in (8, 9, 10)]
    group = ("INSERT INTO alert_group (id, source, key_hash, group_key, title, severity, status, truncated, episode, "
             "triage, first_seen, last_seen) VALUES (:id, 'alertmanager', :id, :id, 'g', 'P1', 'firing', 0, 1, "
             "'declared', :t, :t)")
    alert = ("INSERT INTO alert (group_id, fingerprint, starts_at, status, name, summary, severity, labels, "
             "annotations, first_seen, last_seen) VALUES (:g, :f, :t, :s, 'a', '', 'P1', '{}', '{}', :t, :t)")
    with engine.begin() as connection:
        for group_id in (1, 2):
            connection.execute(text(group), {"id": group_id, "t": at[0]})
        for g, f, t, s in ((1, "a", at[0], "firing"), (1, "a", at[1], "resolved"), (1, "b", at[0], "resolved"),
                           (2, "c", at[0], "firing"), (2, "c", at[2], "firing"), (2, "c", at[1], "resolved")):
            connection.execute(text(alert), {"g": g, "f": f, "t": t, "s": s})
    upgrade(engine)
    with engine.connect() as connection:
        alerts = sorted((r[0], r[1], r[2].hour if isinstance(r[2], datetime) else int(str(r[2])[11:13]), r[3])
                        for r in connection.execute(text("SELECT group_id, fingerprint, starts_at, status FROM alert")))
        groups = dict((r[0], (r[1], r[2] is not None)) for r in connection.execute(
            text("SELECT id, status, summary_due_at FROM alert_group")))
    assert alerts == [(1, "a", 9, "resolved"), (1, "b", 8, "resolved"), (2, "c", 10, "firing")]
    assert groups == {1: ("resolved", True), 2: ("firing", False)}
    with pytest.raises(IntegrityError), engine.begin() as connection:  # one row per fingerprint from now on
        connection.execute(text(alert), {"g": 2, "f": "c", "t": at[1], "s": "firing"})
