"""one alert per fingerprint in a group (the latest firing), alert retention

Alertmanager can send an alert again with a new start time and no resolution between; each
(fingerprint, start time) used to be a row of its own, and the older ones stayed firing for ever.
This keeps the latest row of each (group, fingerprint), marks the groups left with nothing firing
as resolved (their summary is due, so an open incident gets its all-resolved prompt), and makes
(group, fingerprint) unique. It adds the paging group's ``declare_due_at`` timer and the indexes
retention deletes by.

Revision ID: 0014_alert_latest
Revises: 0013_stall
Create Date: 2026-11-30
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.types

revision = '0014_alert_latest'
down_revision = '0013_stall'
branch_labels = None
depends_on = None

OLD_UNIQUE = ["group_id", "fingerprint", "starts_at"]
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}  # SQLite's unnamed constraint, named to drop it


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(
        "DELETE FROM alert WHERE EXISTS (SELECT 1 FROM alert AS newer WHERE newer.group_id = alert.group_id "
        "AND newer.fingerprint = alert.fingerprint AND (newer.starts_at > alert.starts_at "
        "OR (newer.starts_at = alert.starts_at AND newer.id > alert.id)))"))
    now = sa.bindparam("now", datetime.now(UTC), type_=storage.types.UTCDateTime())
    bind.execute(sa.text(
        "UPDATE alert_group SET status = 'resolved', resolved_at = :now, summary_due_at = :now "
        "WHERE status = 'firing' AND NOT EXISTS (SELECT 1 FROM alert WHERE alert.group_id = alert_group.id "
        "AND alert.status = 'firing')").bindparams(now))
    [old] = [c["name"] for c in sa.inspect(bind).get_unique_constraints("alert") if c["column_names"] == OLD_UNIQUE]
    names = SQLITE_NAMES if old is None else None
    with op.batch_alter_table('alert', schema=None, naming_convention=names) as batch_op:
        batch_op.drop_constraint(old or "uq_alert_group_id_fingerprint_starts_at", type_='unique')
        batch_op.create_unique_constraint('uq_alert_group_fingerprint', ['group_id', 'fingerprint'])
        batch_op.drop_index('ix_alert_group_id')
        batch_op.create_index(batch_op.f('ix_alert_ends_at'), ['ends_at'], unique=False)
    with op.batch_alter_table('alert_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declare_due_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_group_declare_due_at'), ['declare_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_group_resolved_at'), ['resolved_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_group_resolved_at'))
        batch_op.drop_index(batch_op.f('ix_alert_group_declare_due_at'))
        batch_op.drop_column('declare_due_at')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_ends_at'))
        batch_op.create_index('ix_alert_group_id', ['group_id'], unique=False)
        batch_op.drop_constraint('uq_alert_group_fingerprint', type_='unique')
        batch_op.create_unique_constraint('alert_group_id_fingerprint_starts_at_key', OLD_UNIQUE)
