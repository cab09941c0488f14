"""paging

Revision ID: 0010_paging
Revises: 0009_reports
Create Date: 2026-11-30 03:36:14.931182
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0010_paging'
down_revision = '0009_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact_method',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('after_seconds', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'kind', 'address')
    )
    with op.batch_alter_table('contact_method', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_method_user_id'), ['user_id'], unique=False)

    op.create_table('page',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('next_round_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('stopped_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('stopped_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'level', 'user_id')
    )
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_page_next_round_at'), ['next_round_at'], unique=False)

    op.create_table('page_send',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('sent_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['page_id'], ['page.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('page_id', 'round', 'contact_id')
    )
    with op.batch_alter_table('page_send', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_send_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_page_send_page_id'), ['page_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_page_send_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('page_send', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_send_state'))
        batch_op.drop_index(batch_op.f('ix_page_send_page_id'))
        batch_op.drop_index(batch_op.f('ix_page_send_due_at'))

    op.drop_table('page_send')
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_next_round_at'))
        batch_op.drop_index(batch_op.f('ix_page_incident_id'))

    op.drop_table('page')
    with op.batch_alter_table('contact_method', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_method_user_id'))

    op.drop_table('contact_method')
