"""index of the timeline by operator: an operator's own latest contacts (console home)

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_interactions_operator", "interactions", ["operator_id", "occurred_at", "id"])


def downgrade():
    op.drop_index("ix_interactions_operator", table_name="interactions")
