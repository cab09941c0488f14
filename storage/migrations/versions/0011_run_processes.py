"""run processes: the process groups a run started, and the bot process running it

Revision ID: 0011_run_processes
Revises: 0010_paging
Create Date: 2026-11-30 03:45:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0011_run_processes'
down_revision = '0010_paging'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_process',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('machine', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('container', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('mark', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('command', sa.Text(), nullable=False),
    sa.Column('started_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run_process', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_process_run_id'), ['run_id'], unique=False)
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('worker')
    with op.batch_alter_table('run_process', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_process_run_id'))
    op.drop_table('run_process')
