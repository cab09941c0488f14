"""outbox indexes: what delivery, pruning and edits filter on, and incident.resolved_at for the
status page (docs/benchmarks.md, "Growth")

Revision ID: 0015_outbox_indexes
Revises: 0014_alert_latest
Create Date: 2026-11-30 03:45:00
"""

from alembic import op

revision = '0015_outbox_indexes'
down_revision = '0014_alert_latest'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbound_state_id', 'outbound_message', ['state', 'id'], unique=False)
    op.create_index('ix_outbound_sent', 'outbound_message', ['state', 'sent_at'], unique=False)
    op.create_index('ix_outbound_anchor', 'outbound_message', ['anchor_id'], unique=False)
    op.create_index(op.f('ix_incident_resolved_at'), 'incident', ['resolved_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_incident_resolved_at'), table_name='incident')
    op.drop_index('ix_outbound_anchor', table_name='outbound_message')
    op.drop_index('ix_outbound_sent', table_name='outbound_message')
    op.drop_index('ix_outbound_state_id', table_name='outbound_message')
