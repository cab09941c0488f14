"""customer notices

Revision ID: 0003_public
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0003_public'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('public_title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('impact', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('drafted_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('drafted_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('request_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('published_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('preview_message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_key')
    )
    op.create_index(op.f('ix_customer_notice_incident_id'), 'customer_notice', ['incident_id'], unique=False)
    op.create_index(op.f('ix_customer_notice_status'), 'customer_notice', ['status'], unique=False)
    op.create_index(op.f('ix_customer_notice_published_at'), 'customer_notice', ['published_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_customer_notice_published_at'), table_name='customer_notice')
    op.drop_index(op.f('ix_customer_notice_status'), table_name='customer_notice')
    op.drop_index(op.f('ix_customer_notice_incident_id'), table_name='customer_notice')
    op.drop_table('customer_notice')
