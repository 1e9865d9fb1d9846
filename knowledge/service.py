"""Operations on articles: save (every save is a revision), restore, publish (now or at a
time), archive, review and approval, operators' proposals, translations.

Services flush; the request or the job commits.  The search index is updated in the same
transaction (``knowledge.search.index_article``), so it never disagrees with the articles.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from accounts.models import User
from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.sanitize import render_markdown
from extensions import db
from knowledge import search
from knowledge.access import is_editor, user_id
from knowledge.models import KbArticle, KbRevision

CONTENT_FIELDS = ("title", "body", "visibility", "locale", "category_id", "tags")


def display_name(uid: int | None) -> str | None:
    if uid is None:
        return None
    user = db.session.get(User, uid)
    return user.display_name if user is not None else None


def check_version(article: KbArticle, expected: int | None) -> None:
    """Optimistic locking: a stale version is a 409 that names who changed it since."""
    if expected is None or expected == article.version:
        return
    who = display_name(article.updated_by_id) or display_name(article.author_id) or "someone"
    raise Conflict(f"{who} changed this article since you opened it (version {article.version}, "
                   f"yours {expected}). Reload to see their changes.",
                   current_version=article.version,
                   updated_by={"id": article.updated_by_id, "name": who},
                   updated_at=article.updated_at.isoformat())


def _touch(article: KbArticle, user) -> None:
    article.updated_by_id = user_id(user)
    article.updated_at = utcnow()
    article.version += 1


def _add_revision(article: KbArticle, user, note: str, *, autosave: bool = False) -> KbRevision:
    """Record the article's current content as a revision.  Consecutive autosaves by the
    same person refresh their last autosave instead of piling up (an explicit save, a
    restore or someone else's save starts a new one)."""
    uid = user_id(user)
    latest = None
    if autosave and article.current_rev:
        latest = db.session.scalar(select(KbRevision).where(KbRevision.article_id == article.id,
                                                            KbRevision.rev == article.current_rev))
    if latest is not None and latest.autosave and latest.author_id == uid:
        revision = latest
        revision.created_at = utcnow()
    else:
        article.current_rev += 1
        revision = KbRevision(article_id=article.id, rev=article.current_rev, author_id=uid, autosave=autosave)
        db.session.add(revision)
    for field in ("title", "body", "visibility", "locale", "category_id"):
        setattr(revision, field, getattr(article, field))
    revision.tags = list(article.tags or [])
    revision.note = (note or ("autosave" if autosave else ""))[:300]
    db.session.flush()
    return revision


def _apply(article: KbArticle, values: dict) -> None:
    for field in CONTENT_FIELDS:
        if field in values:
            setattr(article, field, values[field])
    if "body" in values:
        article.html = render_markdown(article.body)
    if not (article.title or "").strip():
        raise Invalid("An article needs a title.", fields={"title": ["must not be empty"]})


def create_article(values: dict, user, *, note: str = "") -> KbArticle:
    """A new article is always a draft; its creation is revision 1."""
    article = KbArticle(status="draft", author_id=user_id(user), updated_by_id=user_id(user),
                        tags=[], current_rev=0, version=1, body="", visibility="internal", locale="ja")
    _apply(article, values)
    if not article.html:
        article.html = render_markdown(article.body)
    article.needs_review = bool(values.get("needs_review", False))
    source_id = values.get("translation_of")
    if source_id is not None:
        source = db.session.get(KbArticle, source_id)
        if source is None:
            raise Invalid("No such article to translate.", fields={"translation_of": ["not found"]})
        if source.locale == article.locale:
            raise Invalid("A translation needs another language.", fields={"locale": ["same as the original"]})
        if source.translation_group is None:
            source.translation_group = source.id
        article.translation_group = source.translation_group
    proposal_for = values.get("proposal_for")
    if proposal_for is not None:
        target = db.session.get(KbArticle, proposal_for)
        if target is None or target.status != "published" and not is_editor(user):
            raise Invalid("No such article to propose an edit for.", fields={"proposal_for": ["not found"]})
        article.proposal_for_id = target.id
    db.session.add(article)
    db.session.flush()
    _add_revision(article, user, note or "created")
    return article


def update_article(article: KbArticle, values: dict, user, *, expected_version: int | None = None,
                   note: str = "", autosave: bool = False) -> KbArticle:
    """Save changes as a new revision (optimistic: ``expected_version``)."""
    check_version(article, expected_version)
    if autosave and article.status != "draft":
        raise Conflict("Only drafts autosave; save a published article explicitly.")
    if "status" in values:
        _change_status(article, values["status"], user)
    content_changed = any(field in values and values[field] != getattr(article, field) for field in CONTENT_FIELDS)
    _apply(article, values)
    if "needs_review" in values:
        article.needs_review = bool(values["needs_review"])
    _touch(article, user)
    if content_changed:
        _add_revision(article, user, note, autosave=autosave)
    search.index_article(article)
    return article


def _change_status(article: KbArticle, status: str, user) -> None:
    if status == article.status:
        return
    if not is_editor(user):
        raise Forbidden("Only editors change an article's status.")
    if status == "published":
        raise Invalid("Publish with POST /kb/articles/{id}/publish.", fields={"status": ["use the publish action"]})
    article.status = status
    article.publish_at = None


def restore(article: KbArticle, rev: int, user, *, expected_version: int | None = None) -> KbArticle:
    """Make an old revision's content current again, as a new revision."""
    check_version(article, expected_version)
    old = get_revision(article, rev)
    _apply(article, {"title": old.title, "body": old.body, "visibility": old.visibility, "locale": old.locale,
                     "category_id": old.category_id, "tags": list(old.tags or [])})
    _touch(article, user)
    _add_revision(article, user, f"Restored revision {rev}")
    search.index_article(article)
    return article


def get_revision(article: KbArticle, rev: int) -> KbRevision:
    revision = db.session.scalar(select(KbRevision).where(KbRevision.article_id == article.id, KbRevision.rev == rev))
    if revision is None:
        raise NotFound(f"Article {article.id} has no revision {rev}.")
    return revision


def review_required(article: KbArticle) -> bool:
    return bool(article.needs_review or current_app.config.get("KB_REQUIRE_REVIEW"))


def is_approved(article: KbArticle) -> bool:
    return article.approved_rev is not None and article.approved_rev == article.current_rev


def publish(article: KbArticle, user, *, at: datetime | None = None,
            expected_version: int | None = None) -> KbArticle:
    """Publish now, or schedule it for ``at``.  Publishing is not a revision."""
    check_version(article, expected_version)
    if article.proposal_for_id is not None:
        raise Conflict("This is a proposed edit of another article: apply it instead of publishing it.")
    if review_required(article) and not is_approved(article):
        raise Conflict("This article needs a reviewer's approval of its latest revision before it is published.",
                       code="needs_review")
    if at is not None and at > utcnow():
        article.publish_at = at
        _touch(article, user)
        return article
    article.status = "published"
    article.published_at = utcnow()
    article.publish_at = None
    article.needs_review = False
    _touch(article, user)
    search.index_article(article)
    return article


def publish_due(now: datetime | None = None) -> list[int]:
    """Publish the scheduled drafts whose time has come (the periodic job)."""
    now = now or utcnow()
    published = []
    due = db.session.scalars(select(KbArticle).where(KbArticle.publish_at.is_not(None), KbArticle.publish_at <= now)
                             .with_for_update(skip_locked=True, of=KbArticle))
    for article in due:
        article.publish_at = None
        if review_required(article) and not is_approved(article):
            continue  # approval was lost by a later save: stays a draft
        article.status = "published"
        article.published_at = now
        article.needs_review = False
        article.version += 1
        search.index_article(article)
        published.append(article.id)
    return published


def archive(article: KbArticle, user) -> KbArticle:
    """DELETE archives: the article leaves search and the help center, history stays."""
    article.status = "archived"
    article.publish_at = None
    _touch(article, user)
    search.index_article(article)
    return article


def request_review(article: KbArticle, user) -> KbArticle:
    article.needs_review = True
    _touch(article, user)
    return article


def approve(article: KbArticle, user) -> KbArticle:
    """A reviewer approves the latest revision; someone other than its author (admins excepted)."""
    latest = get_revision(article, article.current_rev)
    if latest.author_id is not None and latest.author_id == user_id(user) and not user.has_role("admin"):
        raise Forbidden("Someone other than the author of the latest revision must review it.")
    article.approved_rev = article.current_rev
    article.approved_by_id = user_id(user)
    article.approved_at = utcnow()
    _touch(article, user)
    return article


def apply_proposal(proposal: KbArticle, user, *, expected_version: int | None = None) -> KbArticle:
    """Take an operator's proposed edit into the article it proposes to change."""
    if proposal.proposal_for_id is None or proposal.status != "draft":
        raise Conflict("This draft is not an open proposal.")
    target = db.session.get(KbArticle, proposal.proposal_for_id)
    if target is None:
        raise NotFound("The proposed article no longer exists.")
    check_version(target, expected_version)
    _apply(target, {"title": proposal.title, "body": proposal.body, "tags": list(proposal.tags or [])})
    _touch(target, user)
    who = display_name(proposal.author_id) or "?"
    _add_revision(target, user, f"Applied proposal #{proposal.id} by {who}")
    proposal.status = "archived"
    _touch(proposal, user)
    search.index_article(target)
    return target


def translations(article: KbArticle, *, published_public_only: bool = False) -> list[KbArticle]:
    if article.translation_group is None:
        return []
    statement = select(KbArticle).where(KbArticle.translation_group == article.translation_group,
                                        KbArticle.id != article.id, KbArticle.status != "archived")
    if published_public_only:
        statement = statement.where(KbArticle.status == "published", KbArticle.visibility == "public")
    return list(db.session.scalars(statement.order_by(KbArticle.locale)))


def revision_count(article: KbArticle) -> int:
    return db.session.scalar(select(func.count()).select_from(KbRevision).where(KbRevision.article_id == article.id))
