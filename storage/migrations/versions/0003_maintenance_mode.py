"""questions a running run asks in its thread (maintenance mode's drain timeout)

Revision ID: 0003_maintenance_mode
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0003_maintenance_mode'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('asked_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('choices', sa.Text(), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('answered_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('answered_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_question_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_question_run_id'))
    op.drop_table('run_question')
