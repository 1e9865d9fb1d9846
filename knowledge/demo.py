"""Demo data for the knowledge package (called by `flask demo`): categories and the
Japanese/English manuals of ``knowledge.manuals``, published, linked as translations and
to each other, a few internal; plus some use counts and votes so lists look lived in."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from extensions import db
from knowledge import service
from knowledge.manuals import CATEGORIES, MANUALS
from knowledge.models import KbArticle, KbCategory

_LINK = re.compile(r"\(kb:([a-z_]+)\)")


class _Author:
    """Who the demo articles are written by: the demo editor when there is one."""

    is_authenticated = True

    def __init__(self, user):
        self.user = user
        self.user_id = user.id if user else None

    def has_role(self, role: str) -> bool:
        return True


def seed(customer_count: int) -> list[str]:
    """Create the demo manuals once; return lines to print."""
    if db.session.scalar(select(func.count()).select_from(KbArticle)):
        return []
    from accounts.service import find_user

    author = _Author(find_user("editor") or find_user("admin"))
    category_ids = _seed_categories()
    created: dict[tuple[str, str], KbArticle] = {}
    for manual in MANUALS:
        source = None
        for locale in ("ja", "en"):
            if not manual.get(locale):
                continue
            title, body = manual[locale]
            values = {"title": title, "body": body, "locale": locale, "visibility": manual["visibility"],
                      "category_id": category_ids[manual["category"]], "tags": manual["tags"]}
            if source is not None:
                values["translation_of"] = source.id
            article = service.create_article(values, author, note="first version")
            created[(manual["key"], locale)] = article
            source = source or article
    for (_key, locale), article in created.items():
        if _LINK.search(article.body):
            def link(match, locale=locale):
                target = created.get((match.group(1), locale)) or created.get((match.group(1), "ja"))
                return f"(/help/articles/{target.id})" if target else "()"

            service.update_article(article, {"body": _LINK.sub(link, article.body)}, author,
                                   note="Linked related articles")
    for number, article in enumerate(created.values()):
        service.publish(article, author)
        article.use_count = (number * 7) % 23
        article.helpful_yes = (number * 5) % 17
        article.helpful_no = number % 3
        from knowledge.search import refresh_popularity

        refresh_popularity(article)
    db.session.flush()
    internal = sum(1 for a in created.values() if a.visibility == "internal")
    return [f"Knowledge base: {len(created)} published manuals ({internal} internal), "
            f"{len(category_ids)} categories — public help center at /help"]


def _seed_categories() -> dict[str, int]:
    ids: dict[str, int] = {}
    for position, (key, parent, name_ja, name_en) in enumerate(CATEGORIES):
        category = KbCategory(name_ja=name_ja, name_en=name_en, parent_id=ids.get(parent) if parent else None,
                              position=position, version=1)
        db.session.add(category)
        db.session.flush()
        ids[key] = category.id
    return ids
