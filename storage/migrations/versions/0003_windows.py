"""scheduled maintenance windows, their timers and checklist ticks

Revision ID: 0003_windows
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0003_windows'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('maintenance_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('starts_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('ends_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('activities', sa.Text(), nullable=False),
    sa.Column('expected_impact', sa.Text(), nullable=False),
    sa.Column('services', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('standing_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('occurrence_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('request_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('cancelled_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('cancelled_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('completed_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('thread_message_id', sa.Integer(), nullable=True),
    sa.Column('checklist_message_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_key'),
    sa.UniqueConstraint('standing_key', 'occurrence_at')
    )
    with op.batch_alter_table('maintenance_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_window_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_window_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_window_status'), ['status'], unique=False)

    op.create_table('maintenance_timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fired_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['window_id'], ['maintenance_window.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('window_id', 'kind')
    )
    with op.batch_alter_table('maintenance_timer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_timer_window_id'), ['window_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_timer_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_timer_state'), ['state'], unique=False)

    op.create_table('maintenance_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('item_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['window_id'], ['maintenance_window.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('window_id', 'item_key')
    )
    with op.batch_alter_table('maintenance_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_check_window_id'), ['window_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('maintenance_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_check_window_id'))
    op.drop_table('maintenance_check')
    with op.batch_alter_table('maintenance_timer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_timer_state'))
        batch_op.drop_index(batch_op.f('ix_maintenance_timer_due_at'))
        batch_op.drop_index(batch_op.f('ix_maintenance_timer_window_id'))
    op.drop_table('maintenance_timer')
    with op.batch_alter_table('maintenance_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_window_status'))
        batch_op.drop_index(batch_op.f('ix_maintenance_window_ends_at'))
        batch_op.drop_index(batch_op.f('ix_maintenance_window_starts_at'))
    op.drop_table('maintenance_window')
