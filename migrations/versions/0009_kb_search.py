"""knowledge-base search: a short GIN pending list

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 16:30:00

New entries of a GIN index wait in an unsorted pending list until VACUUM or until the list
reaches ``gin_pending_list_limit`` (4 MB by default), and every search scans the whole
list: after a bulk publish about 1 ms per lookup, and a suggestion makes a couple of dozen
lookups.  128 kB keeps that scan near 0.05 ms while inserts still go in batches (turning
``fastupdate`` off instead made loading 20,000 articles five times slower).  What is
pending now is flushed.  SQLite (FTS5) has nothing to change.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GIN_INDEXES = ("ix_kb_search_terms_array", "ix_kb_search_title_terms", "ix_kb_search_title_trgm")
PENDING_LIST_KB = 128


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in GIN_INDEXES:
        op.execute(f"ALTER INDEX {name} SET (gin_pending_list_limit = {PENDING_LIST_KB})")
        op.execute(f"SELECT gin_clean_pending_list('{name}'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in GIN_INDEXES:
        op.execute(f"ALTER INDEX {name} RESET (gin_pending_list_limit)")
