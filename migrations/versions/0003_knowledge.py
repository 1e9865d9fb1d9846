"""knowledge base: articles, revisions, categories, uses, votes, images, search index

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 15:00:00

The search indexes differ by backend (see knowledge/search.py):
SQLite gets two FTS5 tables over kb_search_docs (trigram, and unicode61 over the index
terms) kept in sync by triggers; PostgreSQL gets a GIN over the index-term array and
pg_trgm over titles.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name_ja", sa.String(length=120), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["kb_categories.id"],
                                name=op.f("fk_kb_categories_parent_id_kb_categories"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
    )
    with op.batch_alter_table("kb_categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_categories_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("visibility", sa.String(length=12), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("translation_group", sa.Integer(), nullable=True),
        sa.Column("proposal_for_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("publish_at", sa.DateTime(), nullable=True),
        sa.Column("current_rev", sa.Integer(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("approved_rev", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("helpful_yes", sa.Integer(), nullable=False),
        sa.Column("helpful_no", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["approved_by_id"], ["users.id"], name=op.f("fk_kb_articles_approved_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_kb_articles_author_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["category_id"], ["kb_categories.id"],
                                name=op.f("fk_kb_articles_category_id_kb_categories"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["proposal_for_id"], ["kb_articles.id"],
                                name=op.f("fk_kb_articles_proposal_for_id_kb_articles"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_kb_articles_updated_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.create_index("ix_kb_articles_status_locale", ["status", "locale"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_articles_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_articles_publish_at"), ["publish_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_articles_translation_group"), ["translation_group"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_articles_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "kb_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=12), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("autosave", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_revisions_article_id_kb_articles"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_kb_revisions_author_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_revisions")),
        sa.UniqueConstraint("article_id", "rev", name="uq_kb_revisions_article_rev"),
    )

    op.create_table(
        "kb_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_uses_article_id_kb_articles"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_kb_uses_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_uses")),
        sa.UniqueConstraint("article_id", "ticket_id", name="uq_kb_uses_article_ticket"),
    )
    with op.batch_alter_table("kb_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_uses_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "kb_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("voter", sa.String(length=64), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"], name=op.f("fk_kb_votes_article_id_kb_articles"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_votes")),
        sa.UniqueConstraint("article_id", "voter", name="uq_kb_votes_article_voter"),
    )

    op.create_table(
        "kb_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"], name=op.f("fk_kb_images_uploaded_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_images")),
        sa.UniqueConstraint("key", name=op.f("uq_kb_images_key")),
    )

    op.create_table(
        "kb_search_docs",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("visibility", sa.String(length=12), nullable=False),
        sa.Column("popularity", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_norm", sa.Text(), nullable=False),
        sa.Column("title_terms", sa.Text(), nullable=False),
        sa.Column("lead_norm", sa.Text(), nullable=False),
        sa.Column("lead_terms", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_norm", sa.Text(), nullable=False),
        sa.Column("body_terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"],
                                name=op.f("fk_kb_search_docs_article_id_kb_articles"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_kb_search_docs")),
    )

    with op.batch_alter_table("kb_search_docs", schema=None) as batch_op:
        batch_op.create_index("ix_kb_search_visibility_locale", ["visibility", "locale"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _postgres_search_indexes()
    else:
        _sqlite_search_tables()


def _postgres_search_indexes():
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    # Japanese trigrams need a UTF-8 LC_CTYPE (TOOLING "Databases").
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Every query term is a lookup of whole index terms (stems, stem prefixes, Japanese
    # bigrams and characters) in this GIN: exact, no recheck of the long texts.
    # kb_search_terms is plpgsql (never inlined) with a high cost, so the planner takes this
    # index even for common terms instead of splitting every row's long term text.
    op.execute("CREATE FUNCTION kb_search_terms(title_terms text, body_terms text) RETURNS text[] "
               "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 10000 AS "
               "$$ BEGIN RETURN string_to_array(title_terms || ' ' || body_terms, ' '); END $$")
    op.execute("CREATE INDEX ix_kb_search_terms_array ON kb_search_docs "
               "USING gin (kb_search_terms(title_terms, body_terms))")
    # The same for titles alone: a title match ranks first however common the term.
    op.execute("CREATE INDEX ix_kb_search_title_terms ON kb_search_docs "
               "USING gin (kb_search_terms(title_terms, ''))")
    # Long texts out of line: the table's main part stays small, so reading the rows that
    # an index found (and ranking them on title and lead) stays fast.
    op.execute("ALTER TABLE kb_search_docs SET (toast_tuple_target = 1024)")
    # Trigram similarity of titles: the English typo fallback (word_similarity, <%).
    op.execute("CREATE INDEX ix_kb_search_title_trgm ON kb_search_docs USING gin (title_norm gin_trgm_ops)")

def _sqlite_search_tables():
    # External-content FTS5 tables: the text lives once, in kb_search_docs.
    op.execute("CREATE VIRTUAL TABLE kb_fts_tri USING fts5(title_norm, lead_norm, body_norm, "
               "content='kb_search_docs', content_rowid='article_id', tokenize='trigram')")
    op.execute("CREATE VIRTUAL TABLE kb_fts_words USING fts5(title_terms, lead_terms, body_terms, "
               "content='kb_search_docs', content_rowid='article_id', tokenize='unicode61 remove_diacritics 0')")
    insert = ("INSERT INTO kb_fts_tri(rowid, title_norm, lead_norm, body_norm) "
              "VALUES (new.article_id, new.title_norm, new.lead_norm, new.body_norm); "
              "INSERT INTO kb_fts_words(rowid, title_terms, lead_terms, body_terms) "
              "VALUES (new.article_id, new.title_terms, new.lead_terms, new.body_terms);")
    remove = ("INSERT INTO kb_fts_tri(kb_fts_tri, rowid, title_norm, lead_norm, body_norm) "
              "VALUES ('delete', old.article_id, old.title_norm, old.lead_norm, old.body_norm); "
              "INSERT INTO kb_fts_words(kb_fts_words, rowid, title_terms, lead_terms, body_terms) "
              "VALUES ('delete', old.article_id, old.title_terms, old.lead_terms, old.body_terms);")
    op.execute(f"CREATE TRIGGER kb_search_docs_ai AFTER INSERT ON kb_search_docs BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER kb_search_docs_ad AFTER DELETE ON kb_search_docs BEGIN {remove} END")
    op.execute(f"CREATE TRIGGER kb_search_docs_au AFTER UPDATE ON kb_search_docs BEGIN {remove} {insert} END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in ("ix_kb_search_terms_array", "ix_kb_search_title_terms", "ix_kb_search_title_trgm"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP FUNCTION IF EXISTS kb_search_terms(text, text)")
    else:
        for trigger in ("kb_search_docs_au", "kb_search_docs_ad", "kb_search_docs_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_fts_words")
        op.execute("DROP TABLE IF EXISTS kb_fts_tri")
    op.drop_table("kb_search_docs")
    op.drop_table("kb_images")
    op.drop_table("kb_votes")
    with op.batch_alter_table("kb_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_uses_ticket_id"))
    op.drop_table("kb_uses")
    op.drop_table("kb_revisions")
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_articles_updated_at"))
        batch_op.drop_index(batch_op.f("ix_kb_articles_translation_group"))
        batch_op.drop_index(batch_op.f("ix_kb_articles_publish_at"))
        batch_op.drop_index(batch_op.f("ix_kb_articles_category_id"))
        batch_op.drop_index("ix_kb_articles_status_locale")
    op.drop_table("kb_articles")
    with op.batch_alter_table("kb_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_categories_parent_id"))
    op.drop_table("kb_categories")
