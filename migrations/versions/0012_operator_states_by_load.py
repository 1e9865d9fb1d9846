"""index of available operators by load: routing reads its candidates in order

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_operator_states_by_load", "operator_states",
                    ["presence", "load_total", "idle_since", "user_id"])


def downgrade():
    op.drop_index("ix_operator_states_by_load", table_name="operator_states")
