"""Models of the knowledge package: articles, their revisions, the category tree, use
records (article ↔ ticket), help-center votes, uploaded images and the search documents.

The search documents (``kb_search_docs``) hold only *published* articles, normalised for
search; the backend-specific indexes over them (SQLite FTS5 tables kept in sync by
triggers, PostgreSQL pg_trgm/GIN indexes) are created by migration 0003 and queried by
``knowledge.search``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow

STATUSES = ("draft", "published", "archived")
VISIBILITIES = ("internal", "public")
LOCALES = ("ja", "en")


class KbCategory(Base):
    """A node of the category tree; names in both languages."""

    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True)
    name_ja: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120), default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    def name_for(self, locale: str) -> str:
        if locale == "en" and self.name_en:
            return self.name_en
        return self.name_ja or self.name_en


class KbArticle(Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        Index("ix_kb_articles_status_locale", "status", "locale"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")  # render_markdown(body), kept with the body
    status: Mapped[str] = mapped_column(String(12), default="draft")
    visibility: Mapped[str] = mapped_column(String(12), default="internal")
    locale: Mapped[str] = mapped_column(String(5), default="ja")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="SET NULL"),
                                                    index=True)
    tags: Mapped[list] = mapped_column(default=list)
    # Translations of one article share a group (the id of the first of them).
    translation_group: Mapped[int | None] = mapped_column(index=True)
    # An operator's proposed edit of another article (a draft that an editor may apply).
    proposal_for_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    published_at: Mapped[datetime | None] = mapped_column()
    publish_at: Mapped[datetime | None] = mapped_column(index=True)  # scheduled publication
    current_rev: Mapped[int] = mapped_column(default=0)
    needs_review: Mapped[bool] = mapped_column(default=False)
    approved_rev: Mapped[int | None] = mapped_column()  # the revision a reviewer approved
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column()
    use_count: Mapped[int] = mapped_column(default=0)
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)

    category: Mapped[KbCategory | None] = relationship()


class KbRevision(Base):
    """Every save of an article (creation, edit, restore) is one revision."""

    __tablename__ = "kb_revisions"
    __table_args__ = (UniqueConstraint("article_id", "rev", name="uq_kb_revisions_article_rev"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    rev: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(12))
    locale: Mapped[str] = mapped_column(String(5))
    category_id: Mapped[int | None] = mapped_column()
    tags: Mapped[list] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(String(300), default="")
    autosave: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbUse(Base):
    """An operator used an article in a ticket's reply.  ``ticket_id`` is a plain integer:
    the knowledge base sits below tickets (ARCHITECTURE) and holds no customer data."""

    __tablename__ = "kb_uses"
    __table_args__ = (UniqueConstraint("article_id", "ticket_id", name="uq_kb_uses_article_ticket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbVote(Base):
    """A "was this helpful?" answer from the help center, one per voter and article."""

    __tablename__ = "kb_votes"
    __table_args__ = (UniqueConstraint("article_id", "voter", name="uq_kb_votes_article_voter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    voter: Mapped[str] = mapped_column(String(64))  # a hash: no address or session is stored
    helpful: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbImage(Base):
    """An image uploaded into an article; served by an unguessable key."""

    __tablename__ = "kb_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbSearchDoc(Base):
    """The searchable form of a published article (see ``knowledge.search``)."""

    __tablename__ = "kb_search_docs"
    __table_args__ = (Index("ix_kb_search_visibility_locale", "visibility", "locale"),)

    # Small columns first: ranking reads only these; the long texts sit at the end of
    # the row (SQLite then never reads their overflow pages while ranking).
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True)
    locale: Mapped[str] = mapped_column(String(5))
    visibility: Mapped[str] = mapped_column(String(12))
    popularity: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))   # display title
    title_norm: Mapped[str] = mapped_column(Text)     # NFKC + lower case
    title_terms: Mapped[str] = mapped_column(Text)    # English stems (+prefixes) and Japanese bigrams/characters
    lead_norm: Mapped[str] = mapped_column(Text)      # the start of the body, normalised
    lead_terms: Mapped[str] = mapped_column(Text)     # English stems of the lead
    body: Mapped[str] = mapped_column(Text)           # plain text, for snippets
    body_norm: Mapped[str] = mapped_column(Text)
    body_terms: Mapped[str] = mapped_column(Text)
