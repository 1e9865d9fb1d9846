"""index of routing events by kind and time: the service level counts the last hour's assignments

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    # routing_events only grows: on PostgreSQL the index is built without blocking writes.
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index("ix_routing_events_kind_at", "routing_events", ["kind", "at"],
                            postgresql_concurrently=True)
    else:
        op.create_index("ix_routing_events_kind_at", "routing_events", ["kind", "at"])


def downgrade():
    op.drop_index("ix_routing_events_kind_at", table_name="routing_events")
