"""merge the domain branches

Revision ID: 0007
Revises: 0003, 0006
Create Date: 2026-11-22 14:26:23.001906

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = ('0003', '0006')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
