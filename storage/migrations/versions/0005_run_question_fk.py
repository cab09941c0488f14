"""run_question.run_id references run.id (the two tables came from sibling branches)

Revision ID: 0005_run_question_fk
Revises: 0004_one_line
Create Date: 2026-12-01
"""

from alembic import op

revision = '0005_run_question_fk'
down_revision = '0004_one_line'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run_question', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_run_question_run_id_run', 'run', ['run_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('run_question', schema=None) as batch_op:
        batch_op.drop_constraint('fk_run_question_run_id_run', type_='foreignkey')
