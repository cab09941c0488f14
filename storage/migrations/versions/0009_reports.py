"""reports: the weekly digests and their charts' uploads

Revision ID: 0009_reports
Revises: 0008_incident_record
Create Date: 2026-11-30 03:50:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0009_reports'
down_revision = '0008_incident_record'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_digest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fire_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('since', storage.types.UTCDateTime(), nullable=False),
    sa.Column('until', storage.types.UTCDateTime(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('chart_state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', storage.types.UTCDateTime(), nullable=True),
    sa.Column('file_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fire_at')
    )
    with op.batch_alter_table('report_digest', schema=None) as batch_op:
        batch_op.create_index('ix_report_digest_chart_due', ['chart_state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_digest', schema=None) as batch_op:
        batch_op.drop_index('ix_report_digest_chart_due')
    op.drop_table('report_digest')
