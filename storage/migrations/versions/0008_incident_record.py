"""incident record

Revision ID: 0008_incident_record
Revises: 0005_run_question_fk
Create Date: 2026-11-30 02:02:53.053506
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0008_incident_record'
down_revision = '0005_run_question_fk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ts', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('thread_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('user', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('posted_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('edited_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('deleted_at', storage.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel_id', 'ts')
    )
    op.create_table('history_read',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ts', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requested_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel_id', 'ts')
    )
    with op.batch_alter_table('history_read', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_history_read_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_history_read_state'), ['state'], unique=False)

    op.create_table('rate_gate',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('next_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('slack_event',
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('slack_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_event_received_at'), ['received_at'], unique=False)

    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('request_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('remind_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('overdue_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('tracker', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tracker_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tracker_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tracker_done', sa.Boolean(), nullable=False),
    sa.Column('tracker_sync_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('tracker_attempts', sa.Integer(), nullable=False),
    sa.Column('tracker_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_key')
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_overdue_at'), ['overdue_at'], unique=False)
        batch_op.create_index('ix_follow_up_owner_status', ['owner', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_remind_at'), ['remind_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_tracker_sync_at'), ['tracker_sync_at'], unique=False)

    op.create_table('timeline_mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ts', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'channel_id', 'ts', 'user_id', 'via')
    )
    with op.batch_alter_table('timeline_mark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timeline_mark_incident_id'), ['incident_id'], unique=False)

    op.create_table('postmortem_edit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('postmortem_id', sa.Integer(), nullable=False),
    sa.Column('op', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('markdown', sa.Text(), nullable=False),
    sa.Column('before', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', storage.types.UTCDateTime(), nullable=True),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['postmortem_id'], ['postmortem.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('postmortem_edit', schema=None) as batch_op:
        batch_op.create_index('ix_postmortem_edit_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_postmortem_edit_postmortem_id'), ['postmortem_id'], unique=False)

    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sections', sa.Text(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('timeline_ids', sa.Text(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('followup_ids', sa.Text(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('updated_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('format', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('canvas_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('file_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('pending_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('pending_sections', sa.Text(), nullable=True))

    with op.batch_alter_table('timeline_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('message_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('edited_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint('uq_timeline_entry_message', ['incident_id', 'message_channel', 'message_ts'])



def downgrade() -> None:
    with op.batch_alter_table('timeline_entry', schema=None) as batch_op:
        batch_op.drop_constraint('uq_timeline_entry_message', type_='unique')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('edited_at')
        batch_op.drop_column('permalink')
        batch_op.drop_column('message_ts')
        batch_op.drop_column('message_channel')

    with op.batch_alter_table('postmortem', schema=None) as batch_op:
        batch_op.drop_column('pending_sections')
        batch_op.drop_column('pending_text')
        batch_op.drop_column('file_id')
        batch_op.drop_column('canvas_id')
        batch_op.drop_column('format')
        batch_op.drop_column('updated_by')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('followup_ids')
        batch_op.drop_column('timeline_ids')
        batch_op.drop_column('sections')

    with op.batch_alter_table('postmortem_edit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postmortem_edit_postmortem_id'))
        batch_op.drop_index('ix_postmortem_edit_due')

    op.drop_table('postmortem_edit')
    with op.batch_alter_table('timeline_mark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timeline_mark_incident_id'))

    op.drop_table('timeline_mark')
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_tracker_sync_at'))
        batch_op.drop_index(batch_op.f('ix_follow_up_status'))
        batch_op.drop_index(batch_op.f('ix_follow_up_remind_at'))
        batch_op.drop_index('ix_follow_up_owner_status')
        batch_op.drop_index(batch_op.f('ix_follow_up_overdue_at'))
        batch_op.drop_index(batch_op.f('ix_follow_up_incident_id'))

    op.drop_table('follow_up')
    with op.batch_alter_table('slack_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_event_received_at'))

    op.drop_table('slack_event')
    op.drop_table('rate_gate')
    with op.batch_alter_table('history_read', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_history_read_state'))
        batch_op.drop_index(batch_op.f('ix_history_read_due_at'))

    op.drop_table('history_read')
    op.drop_table('channel_message')
