"""Articles for a ticket: called by the tickets package for ``GET /tickets/{id}/suggestions``
and by the console's screen pop.  The knowledge base knows nothing about tickets: it is
given the subject and the latest message, and reports uses through ``record_use``.
"""
from __future__ import annotations

from knowledge import search
from knowledge.feedback import record_use  # noqa: F401  (re-exported for the tickets package)
from knowledge.models import KbArticle
from knowledge.text import has_japanese, parse_query

MAX_TERMS = 12
BODY_CHARS = 2000  # the start of a long mail says what it is about


def suggest_for_text(subject: str, body: str = "", limit: int = 5, *,
                     visibilities=("internal", "public")) -> list[dict]:
    """The best published articles for a ticket's subject and latest message, best first:
    ``[{id, title, snippet, score, locale, visibility, use_count, helpful_yes, helpful_no, url}]``.

    Words of the subject count double; articles in the ticket's language get a small bonus.
    Any term may match (a ticket is not a query), so the more terms an article has, and
    the more of them in its title, the higher it ranks."""
    subject_terms = parse_query(subject or "", max_terms=MAX_TERMS, min_cjk=2, min_word=3)
    body_terms = parse_query((body or "")[:BODY_CHARS], max_terms=MAX_TERMS * 2, min_cjk=2, min_word=3)
    terms = list(subject_terms)
    keys = {t.key for t in terms}
    # Longer Japanese words and English words say more than short, common ones.
    for term in sorted(body_terms, key=lambda t: -len(t.text)):
        if len(terms) >= MAX_TERMS:
            break
        if term.key not in keys:
            keys.add(term.key)
            terms.append(term)
    if not terms:
        return []
    weights = [2 if i < len(subject_terms) else 1 for i in range(len(terms))]
    preferred = "ja" if has_japanese(f"{subject} {body}") else "en"
    hits = search.run(terms, visibilities=visibilities, limit=limit, weights=weights, preferred_locale=preferred,
                      every_term_first=False)
    from extensions import db

    # The counters only: loading whole articles would read every body and its HTML again.
    counts = {row.id: row for row in db.session.execute(
        db.select(KbArticle.id, KbArticle.use_count, KbArticle.helpful_yes, KbArticle.helpful_no)
        .where(KbArticle.id.in_([h.id for h in hits])))}
    result = []
    for hit in hits:
        row = counts.get(hit.id)
        item = hit.as_dict()
        item.update({"use_count": row.use_count if row else 0,
                     "helpful_yes": row.helpful_yes if row else 0,
                     "helpful_no": row.helpful_no if row else 0,
                     "url": f"/kb/articles/{hit.id}"})
        result.append(item)
    return result
