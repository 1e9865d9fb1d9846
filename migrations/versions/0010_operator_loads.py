"""operator load counters (items held per channel), filled from the work items

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHANNELS = ("phone", "email", "web", "chat")


def upgrade():
    with op.batch_alter_table("operator_states") as batch:
        for channel in CHANNELS + ("total",):
            batch.add_column(sa.Column(f"load_{channel}", sa.Integer(), nullable=False, server_default="0"))
    held = "work_items.operator_id = operator_states.user_id AND work_items.state IN ('offered', 'assigned')"
    for channel in CHANNELS:
        op.execute(f"UPDATE operator_states SET load_{channel} = "
                   f"(SELECT count(*) FROM work_items WHERE {held} AND work_items.channel = '{channel}')")
    op.execute(f"UPDATE operator_states SET load_total = (SELECT count(*) FROM work_items WHERE {held})")


def downgrade():
    with op.batch_alter_table("operator_states") as batch:
        for channel in CHANNELS + ("total",):
            batch.drop_column(f"load_{channel}")
