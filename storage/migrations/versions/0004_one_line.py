"""merge the feature branches that each started from 0001 into one line

Revision ID: 0004_one_line
Revises: 0002_alerts, 0002_executor, 0003_changes, 0003_maintenance_mode, 0003_public, 0003_windows
Create Date: 2026-12-01
"""

revision = '0004_one_line'
down_revision = ('0002_alerts', '0002_executor', '0003_changes', '0003_maintenance_mode', '0003_public',
                 '0003_windows')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
