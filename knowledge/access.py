"""Who may read and change what in the knowledge base (CONTRACT §8).

Editors (and admins) read and write everything.  Operators read published articles,
internal and public, and their own proposals; they may create drafts and change their own
drafts until an editor has published them, nothing else.  The public reads published
public articles only.  Nobody learns that an article exists if they may not read it: 404.
"""
from __future__ import annotations

from flask_login import current_user

from core.errors import Forbidden, NotFound
from extensions import db
from knowledge.models import KbArticle


def user_id(user=None) -> int | None:
    user = user or current_user
    return getattr(user, "user_id", None) if getattr(user, "is_authenticated", False) else None


def is_editor(user=None) -> bool:
    user = user or current_user
    return bool(getattr(user, "is_authenticated", False) and user.has_role("editor"))


def is_reader(user=None) -> bool:
    """Editors and operators (supervisors and admins included) read internal articles."""
    user = user or current_user
    return bool(getattr(user, "is_authenticated", False)
                and (user.has_role("editor") or user.has_role("operator")))


def visibilities(user=None) -> tuple[str, ...]:
    return ("internal", "public") if is_reader(user) else ("public",)


def can_read(article: KbArticle, user=None) -> bool:
    if is_editor(user):
        return True
    if is_reader(user):
        return article.status == "published" or (article.author_id is not None
                                                 and article.author_id == user_id(user)
                                                 and article.status == "draft")
    return article.status == "published" and article.visibility == "public"


def can_edit(article: KbArticle, user=None) -> bool:
    if is_editor(user):
        return True
    return (is_reader(user) and article.status == "draft" and article.published_at is None
            and article.author_id is not None and article.author_id == user_id(user))


def readable_article(article_id: int, user=None) -> KbArticle:
    article = db.session.get(KbArticle, article_id)
    if article is None or not can_read(article, user):
        raise NotFound("No such article.")
    return article


def editable_article(article_id: int, user=None) -> KbArticle:
    article = readable_article(article_id, user)
    if not can_edit(article, user):
        raise Forbidden("Only editors change articles; operators may change their own unpublished drafts.")
    return article


def require_editor(user=None) -> None:
    if not is_editor(user):
        raise Forbidden("This needs the editor role.")
