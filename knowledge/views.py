"""Pages: the editor ``/kb`` (editors and operators) and the public help center ``/help``
(no login, server-rendered; anything not published and public is a 404)."""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select

from accounts.permissions import page
from core.sanitize import html_to_text
from extensions import csrf, db
from knowledge import access, categories, feedback, search, service
from knowledge.models import LOCALES, KbArticle, KbCategory, KbImage

bp = Blueprint("kb_pages", __name__)


# --- the editor ------------------------------------------------------------------------

def _editor_strings() -> dict:
    keys = {
        "saved": _("Saved"), "saving": _("Saving…"), "autosaved": _("Draft autosaved"),
        "conflict": _("Changed by someone else"), "published": _("Published"), "draft": _("Draft"),
        "archived": _("Archived"), "internal": _("Internal"), "public": _("Public"),
        "new_article": _("New article"), "untitled": _("(untitled)"), "no_articles": _("No articles match."),
        "revision": _("Revision"), "restore": _("Restore"), "restored": _("Restored as a new revision"),
        "confirm_restore": _("Restore this revision as a new revision?"),
        "confirm_archive": _("Archive this article? It leaves search and the help center; history is kept."),
        "diff_same": _("No differences."), "needs_review": _("Needs review"), "approved": _("Approved"),
        "review_requested": _("Review requested"), "uploaded": _("Image uploaded"),
        "upload_failed": _("Upload failed"), "reload": _("Reload"), "scheduled": _("Scheduled"),
        "uses": _("Uses"), "helpful": _("Helpful"), "not_helpful": _("Not helpful"), "proposal": _("Proposal"), "applied": _("Proposal applied"),
        "translation_created": _("Translation draft created"), "error": _("Something went wrong. Please try again."),
        "added": _("added"), "removed": _("removed"), "by": _("by"), "current": _("current"),
        "insert_link": _("Insert link"), "search_articles": _("Search articles…"), "autosave": _("autosave"),
    }
    return keys


@bp.route("/kb")
@bp.route("/kb/articles/<int:article_id>")
@page("editor", "operator")
def editor_page(article_id: int | None = None):
    return render_template("kb/editor.html", article_id=article_id, is_editor=access.is_editor(),
                           categories=categories.all_categories(), kb_strings=_editor_strings(),
                           locale=str(get_locale() or "ja"))


# --- the public help center --------------------------------------------------------------

def _help_locale() -> str:
    locale = str(get_locale() or "ja")
    return locale if locale in LOCALES else "ja"


def _public_articles(locale: str):
    return select(KbArticle).where(KbArticle.status == "published", KbArticle.visibility == "public",
                                   KbArticle.locale == locale)


def _category_tree(locale: str) -> list[dict]:
    """Categories that hold public articles in ``locale`` (or whose children do)."""
    counts = dict(db.session.execute(
        select(KbArticle.category_id, func.count()).where(KbArticle.status == "published",
                                                          KbArticle.visibility == "public",
                                                          KbArticle.locale == locale)
        .group_by(KbArticle.category_id)).all())
    nodes = {c.id: {"category": c, "name": c.name_for(locale), "count": counts.get(c.id, 0), "children": []}
             for c in categories.all_categories()}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node["category"].parent_id)
        (parent["children"] if parent else roots).append(node)

    def total(node) -> int:
        node["total"] = node["count"] + sum(total(child) for child in node["children"])
        node["children"] = [child for child in node["children"] if child["total"]]
        return node["total"]

    return [node for node in roots if total(node)]


def _descendants(category_id: int) -> list[int]:
    ids, frontier = [category_id], [category_id]
    while frontier:
        frontier = list(db.session.scalars(select(KbCategory.id).where(KbCategory.parent_id.in_(frontier))))
        frontier = [i for i in frontier if i not in ids]
        ids += frontier
    return ids


def _excerpt(article: KbArticle, length: int = 120) -> str:
    text = " ".join(html_to_text(article.html).split())
    return text[:length] + ("…" if len(text) > length else "")


@bp.route("/help")
def help_index():
    locale = _help_locale()
    query = (request.args.get("q") or "").strip()[:200]
    results, other_language = [], False
    if query:
        results = search.search(query, visibilities=("public",), locale=locale, limit=20)
        if not results:
            results = search.search(query, visibilities=("public",), limit=20)
            other_language = bool(results)
    popular = list(db.session.scalars(_public_articles(locale).order_by(
        (KbArticle.use_count + KbArticle.helpful_yes - KbArticle.helpful_no).desc(), KbArticle.id.desc()).limit(8)))
    return render_template("help/index.html", query=query, results=results, other_language=other_language,
                           tree=_category_tree(locale), popular=popular, locale=locale, excerpt=_excerpt)


@bp.route("/help/categories/<int:category_id>")
def help_category(category_id: int):
    locale = _help_locale()
    category = db.session.get(KbCategory, category_id)
    if category is None:
        abort(404)
    articles = list(db.session.scalars(_public_articles(locale)
                                       .where(KbArticle.category_id.in_(_descendants(category_id)))
                                       .order_by(KbArticle.title)))
    return render_template("help/category.html", category=category, name=category.name_for(locale),
                           path=categories.path(category, locale), articles=articles, locale=locale,
                           excerpt=_excerpt, tree=_category_tree(locale))


@bp.route("/help/articles/<int:article_id>")
def help_article(article_id: int):
    article = db.session.get(KbArticle, article_id)
    if article is None or article.status != "published" or article.visibility != "public":
        abort(404)
    locale = _help_locale()
    related = []
    if article.category_id:
        related = list(db.session.scalars(select(KbArticle).where(
            KbArticle.status == "published", KbArticle.visibility == "public", KbArticle.locale == article.locale,
            KbArticle.category_id == article.category_id, KbArticle.id != article.id).order_by(KbArticle.title)
            .limit(5)))
    voted = article.id in session.get("kb_voted", [])
    return render_template("help/article.html", article=article, body=Markup(article.html), locale=locale,
                           category_path=categories.path(article.category, article.locale),
                           translations=service.translations(article, published_public_only=True),
                           related=related, voted=voted)


@bp.route("/help/articles/<int:article_id>/vote", methods=["POST"])
def help_vote(article_id: int):
    csrf.protect()
    article = db.session.get(KbArticle, article_id)
    if article is None or article.status != "published" or article.visibility != "public":
        abort(404)
    helpful = request.form.get("helpful")
    if helpful not in ("yes", "no"):
        abort(400)
    if access.user_id() is not None:
        identity = f"user:{access.user_id()}"
    else:
        session.setdefault("kb_voter", secrets.token_urlsafe(16))
        identity = f"visitor:{session['kb_voter']}"
    feedback.vote(article, helpful == "yes", identity)
    db.session.commit()
    session["kb_voted"] = (session.get("kb_voted", []) + [article.id])[-50:]
    return redirect(url_for("kb_pages.help_article", article_id=article.id) + "#feedback")


@bp.route("/help/images/<key>")
def help_image(key: str):
    """Uploaded images, by their unguessable key (public articles show them to anyone)."""
    image = db.session.scalar(select(KbImage).where(KbImage.key == key[:40]))
    if image is None:
        abort(404)
    response = make_response(image.data)
    response.headers["Content-Type"] = image.content_type
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response
