"""/api/v1/kb: articles, revisions, diff, review, search, preview, uses and votes.
Categories and images are in ``knowledge.api_assets``."""
from __future__ import annotations

import secrets

from flask import session
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import or_, select

from accounts.permissions import public, require
from core.errors import Forbidden, Invalid, NotFound
from core.pagination import PageArgs, by_id_desc, decode, encode, envelope
from core.sanitize import render_markdown
from core.versioning import if_match_version
from extensions import db
from knowledge import access, categories, feedback, search, service
from knowledge.diff import diff_revisions
from knowledge.models import KbArticle, KbRevision
from knowledge.schemas import (
    ArticleIn,
    ArticleListArgs,
    ArticleOut,
    ArticlePatch,
    DiffArgs,
    PreviewIn,
    PublishIn,
    RevisionDetailOut,
    RevisionOut,
    SearchArgs,
    SuggestArgs,
    UseIn,
    VersionIn,
    VoteIn,
)
from knowledge.suggest import suggest_for_text

blp = Blueprint("kb_api", __name__, url_prefix="/api/v1", description="Knowledge base")

READERS = ("editor", "operator")


def expected_versions(body: dict) -> list[int]:
    return [v for v in (body.get("version"), if_match_version()) if v is not None]


def _checked(article: KbArticle, body: dict) -> None:
    for version in expected_versions(body):
        service.check_version(article, version)


def _out(article: KbArticle, status: int = 200):
    return article, status, {"ETag": f'"{article.version}"'}


def _category_id(body: dict, *, create: bool) -> None:
    """Turn ``category`` (id, name or path) or ``category_id`` into ``category_id``."""
    if "category" in body:
        body["category_id"] = categories.resolve(body.pop("category"), create=create)
    elif "category_id" in body:
        body["category_id"] = categories.resolve(body["category_id"], create=False)


# --- articles --------------------------------------------------------------------------

@blp.route("/kb/articles")
class Articles(MethodView):
    @blp.arguments(ArticleListArgs, location="query")
    @blp.response(200)
    @require(*READERS)
    def get(self, args):
        """Articles, newest first.  Operators see published ones and their own drafts."""
        statement = select(KbArticle)
        status = args.get("status")
        if status and status != "any":
            statement = statement.where(KbArticle.status == status)
        elif not status:
            statement = statement.where(KbArticle.status != "archived")
        if not access.is_editor():
            statement = statement.where(or_(KbArticle.status == "published",
                                            (KbArticle.status == "draft")
                                            & (KbArticle.author_id == access.user_id())))
        for key in ("visibility", "locale", "category_id", "needs_review"):
            if key in args:
                statement = statement.where(getattr(KbArticle, key) == args[key])
        if args.get("mine"):
            statement = statement.where(KbArticle.author_id == access.user_id())
        if "proposals" in args:
            statement = statement.where(KbArticle.proposal_for_id.is_not(None) if args["proposals"]
                                        else KbArticle.proposal_for_id.is_(None))
        if args.get("q"):
            pattern = "%" + args["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(KbArticle.title.ilike(pattern, escape="\\"))
        rows, cursor = by_id_desc(statement, KbArticle, args["limit"], args["cursor"])
        return envelope(ArticleOut(many=True, exclude=("translations",)).dump(rows), cursor)

    @blp.arguments(ArticleIn)
    @blp.response(201, ArticleOut)
    @require(*READERS)
    def post(self, body):
        """Create a draft (operators too: a proposal).  ``translation_of`` links a translation."""
        body.pop("status", None)  # a new article is always a draft (CONTRACT §8)
        _category_id(body, create=access.is_editor())
        article = service.create_article(body, current_user, note=body.get("note", ""))
        db.session.commit()
        return _out(article, 201)


@blp.route("/kb/articles/<int:article_id>")
class Article(MethodView):
    @blp.response(200, ArticleOut)
    @require(*READERS)
    def get(self, article_id):
        return _out(access.readable_article(article_id))

    @blp.arguments(ArticlePatch)
    @blp.response(200, ArticleOut)
    @require(*READERS)
    def patch(self, body, article_id):
        """Save changes: a new revision.  Send ``version`` (or If-Match); stale → 409 naming
        who changed it.  ``autosave`` saves a draft without adding a revision per keystroke."""
        article = access.editable_article(article_id)
        _checked(article, body)
        _category_id(body, create=access.is_editor())
        service.update_article(article, body, current_user, note=body.get("note", ""),
                               autosave=body.get("autosave", False))
        db.session.commit()
        return _out(article)

    @blp.response(204)
    @require("editor")
    def delete(self, article_id):
        """Archive (history is kept)."""
        article = access.readable_article(article_id)
        service.archive(article, current_user)
        db.session.commit()


def _action(name: str, roles=("editor",)):
    """POST /kb/articles/{id}/{name} → 200 with the article."""

    def register(function):
        def view(body, article_id):
            article = access.readable_article(article_id)
            result = function(article, body)
            db.session.commit()
            return _out(result)

        view.__name__ = f"article_{name}"
        view.__doc__ = function.__doc__
        decorated = blp.arguments(PublishIn if name == "publish" else VersionIn)(
            blp.response(200, ArticleOut)(require(*roles)(view)))
        blp.route(f"/kb/articles/<int:article_id>/{name}", methods=["POST"], endpoint=f"article_{name}")(decorated)
        return function

    return register


@_action("publish")
def _publish(article, body):
    """Publish now, or at ``at`` (scheduled).  Needs an approval when review is required."""
    versions = expected_versions(body)
    return service.publish(article, current_user, at=body.get("at"), expected_version=versions[0] if versions else None)


@_action("review", roles=READERS)
def _review(article, body):
    """Ask for a review before publication."""
    if not access.can_edit(article):
        raise Forbidden("Only editors or the draft's author ask for a review.")
    _checked(article, body)
    return service.request_review(article, current_user)


@_action("approve")
def _approve(article, body):
    """Approve the latest revision (a reviewer other than its author)."""
    _checked(article, body)
    return service.approve(article, current_user)


@_action("apply")
def _apply(article, body):
    """Apply an operator's proposed edit to the article it proposes to change; answers that article."""
    versions = expected_versions(body)
    return service.apply_proposal(article, current_user, expected_version=versions[0] if versions else None)


# --- revisions -------------------------------------------------------------------------

@blp.route("/kb/articles/<int:article_id>/revisions", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200)
@require(*READERS)
def list_revisions(args, article_id):
    """Every save, newest first: ``{rev, author_id, created_at, note, title}``."""
    article = access.readable_article(article_id)
    statement = select(KbRevision).where(KbRevision.article_id == article.id)
    after = decode(args["cursor"], 1)
    if after is not None:
        if not isinstance(after[0], int):
            raise Invalid("The cursor is not valid.", fields={"cursor": ["invalid"]})
        statement = statement.where(KbRevision.rev < after[0])
    rows = list(db.session.scalars(statement.order_by(KbRevision.rev.desc()).limit(args["limit"] + 1)))
    cursor = encode([rows[args["limit"] - 1].rev]) if len(rows) > args["limit"] else None
    return envelope(RevisionOut(many=True).dump(rows[:args["limit"]]), cursor)


@blp.route("/kb/articles/<int:article_id>/revisions/<int:rev>", methods=["GET"])
@blp.response(200, RevisionDetailOut)
@require(*READERS)
def get_revision(article_id, rev):
    return service.get_revision(access.readable_article(article_id), rev)


@blp.route("/kb/articles/<int:article_id>/revisions/<int:rev>/restore", methods=["POST"])
@blp.arguments(VersionIn)
@blp.response(200, ArticleOut)
@require("editor")
def restore_revision(body, article_id, rev):
    """Make revision ``rev`` current again; that is a new revision."""
    article = access.readable_article(article_id)
    _checked(article, body)
    service.restore(article, rev, current_user)
    db.session.commit()
    return _out(article)


@blp.route("/kb/articles/<int:article_id>/diff", methods=["GET"])
@blp.arguments(DiffArgs, location="query")
@blp.response(200)
@require(*READERS)
def diff(args, article_id):
    """Differences between revisions ``from`` (default: the one before ``to``) and ``to``
    (default: the latest): lines, and the characters that changed inside a line."""
    article = access.readable_article(article_id)
    to_rev = args.get("to") or article.current_rev
    from_rev = args.get("from_") or max(1, to_rev - 1)
    return diff_revisions(service.get_revision(article, from_rev), service.get_revision(article, to_rev))


# --- search, suggestions, preview -------------------------------------------------------

@blp.route("/kb/search", methods=["GET"])
@blp.arguments(SearchArgs, location="query")
@blp.response(200)
@public
def search_articles(args):
    """Published articles, Japanese and English, best first.  Without login: public ones only."""
    hits = search.search(args["q"], visibilities=access.visibilities(), locale=args["locale"], limit=args["limit"])
    return envelope([hit.as_dict() for hit in hits], None)


@blp.route("/kb/suggestions", methods=["GET"])
@blp.arguments(SuggestArgs, location="query")
@blp.response(200)
@require(*READERS)
def suggestions(args):
    """Articles for a ticket's subject and message (what the console shows)."""
    return envelope(suggest_for_text(args["subject"], args["body"], args["limit"]), None)


@blp.route("/kb/preview", methods=["POST"])
@blp.arguments(PreviewIn)
@blp.response(200)
@require(*READERS)
def preview(body):
    """The Markdown rendered and sanitised exactly as a saved article is."""
    return {"html": render_markdown(body["body"])}


# --- uses and votes --------------------------------------------------------------------

@blp.route("/kb/articles/<int:article_id>/uses", methods=["POST"])
@require("operator")
@blp.arguments(UseIn)
@blp.response(200, ArticleOut)
def record_use(body, article_id):
    """An operator used the article in a reply to ``ticket_id`` (counted once per ticket)."""
    access.readable_article(article_id)
    feedback.record_use(article_id, body["ticket_id"], access.user_id())
    db.session.commit()
    return _out(db.session.get(KbArticle, article_id))


@blp.route("/kb/articles/<int:article_id>/votes", methods=["POST"])
@blp.arguments(VoteIn)
@blp.response(200)
@public
def vote(body, article_id):
    """"Was this helpful?" — once per visitor; voting again changes the vote."""
    article = access.readable_article(article_id)
    if article.status != "published":
        raise NotFound("No such article.")
    feedback.vote(article, body["helpful"], voter_identity())
    db.session.commit()
    return {"id": article.id, "helpful_yes": article.helpful_yes, "helpful_no": article.helpful_no}


def voter_identity() -> str:
    if current_user.is_authenticated:
        if current_user.user_id is not None:
            return f"user:{current_user.user_id}"
        return f"token:{getattr(current_user, 'token_id', '')}"
    if "kb_voter" not in session:
        session["kb_voter"] = secrets.token_urlsafe(16)
    return f"visitor:{session['kb_voter']}"
