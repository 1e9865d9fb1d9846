"""Knowledge-base search: one interface over SQLite FTS5 and PostgreSQL.

Only published articles have a row in ``kb_search_docs`` (``index_article`` keeps it in
step on every save, publish and archive, in the same transaction), so drafts and archived
articles cannot leak; ``visibilities`` decides internal/public.  Each row carries the text
normalised (NFKC, lower case) and its index terms (``knowledge.text``: English stems and
their prefixes, Japanese bigrams and single characters).  Candidates come from indexes:

- SQLite: ``kb_fts_tri`` (FTS5 trigram) for Japanese terms of three characters or more;
  ``kb_fts_words`` (FTS5 unicode61 over the index terms) for English words (stem prefix)
  and one- or two-character Japanese terms, which the trigram tokenizer cannot see.
- PostgreSQL: a GIN over the index-term array (exact, no recheck); a Japanese term of three
  characters or more is found by its bigrams and then checked for the exact substring;
  ``pg_trgm`` similarity over titles serves the English typo fallback.  The GIN indexes
  keep a short pending list (migration 0009): a long one is scanned by every lookup.

Both backends then rank the candidates with the same SQL over small columns only (title,
the first lines of the body): title hits well above body hits.  Queries run with every
term required first; when that finds fewer than ``limit``, a looser any-term pass fills up,
and an English typo pass runs when nothing matched at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import delete, select, text

from core.db import is_postgres
from core.sanitize import html_to_text
from extensions import db
from knowledge.models import KbArticle, KbSearchDoc
from knowledge.text import Term, bigrams, highlight, index_terms, normalize, parse_query, relax

MAX_BODY_CHARS = 20_000  # what is indexed of a very long article
LEAD_CHARS = 120  # the start of the body, where an article says what it is about


@dataclass
class Hit:
    id: int
    title: str
    snippet: Markup
    score: float
    locale: str
    visibility: str

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "snippet": str(self.snippet), "score": self.score,
                "locale": self.locale, "visibility": self.visibility}


# --- keeping the index in step -------------------------------------------------------------

def document_for(article: KbArticle) -> dict:
    """The search row of an article (also used by bulk loaders such as the benchmark)."""
    body = html_to_text(article.html)[:MAX_BODY_CHARS]
    title_norm, body_norm = normalize(article.title), normalize(body)
    lead_norm = body_norm[:LEAD_CHARS]
    tags = " ".join(article.tags or [])
    return {"article_id": article.id, "locale": article.locale, "visibility": article.visibility,
            "popularity": popularity(article), "title": article.title, "title_norm": title_norm,
            "title_terms": index_terms(title_norm), "lead_norm": lead_norm,
            "lead_terms": index_terms(lead_norm, japanese=False), "body": body, "body_norm": body_norm,
            "body_terms": index_terms(body_norm + " " + normalize(tags))}


def popularity(article: KbArticle) -> int:
    return (article.use_count or 0) + (article.helpful_yes or 0) - (article.helpful_no or 0)


def index_article(article: KbArticle) -> None:
    """Add, refresh or remove the article's search row to match its status (flushes)."""
    db.session.flush()
    existing = db.session.get(KbSearchDoc, article.id)
    if article.status != "published":
        if existing is not None:
            db.session.delete(existing)
            db.session.flush()
        return
    values = document_for(article)
    if existing is None:
        db.session.add(KbSearchDoc(**values))
    else:
        for key, value in values.items():
            setattr(existing, key, value)
    db.session.flush()


def refresh_popularity(article: KbArticle) -> None:
    doc = db.session.get(KbSearchDoc, article.id)
    if doc is not None:
        doc.popularity = popularity(article)


def reindex_all() -> int:
    """Rebuild every search row from the articles; returns how many are searchable."""
    db.session.execute(delete(KbSearchDoc))
    count = 0
    for article in db.session.scalars(db.select(KbArticle).where(KbArticle.status == "published")):
        db.session.add(KbSearchDoc(**document_for(article)))
        count += 1
    db.session.flush()
    return count


# --- querying ------------------------------------------------------------------------------
#
# One statement for both backends: a set of matching articles per term (from the backend's
# index), the candidates (every term: intersection; any term: union), and a score from
# the small columns only — per term 15 for having it, 10 more in the title, 3 more in the
# lead — plus 20 when the title has every term.  Bodies are read for the final rows only.

class _Sql:
    """Parameters and the few expressions where the dialects differ."""

    def __init__(self, postgres: bool):
        self.postgres = postgres
        self.params: dict = {}

    def param(self, value) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return ":" + name

    def instr(self, haystack: str, needle: str) -> str:
        return f"strpos({haystack}, {needle})" if self.postgres else f"instr({haystack}, {needle})"


# A plpgsql function (never inlined) with a high cost: the planner then always takes the
# GIN index (exact for @>, no recheck) instead of splitting every row's long term text.
_PG_TERMS = "kb_search_terms(title_terms, body_terms)"


# How many rows one term may bring to ranking: bounds the work for common terms.  Rows
# beyond these could only tie with them (same terms, same places) or rank below.
CAP = 100
HEAD_CAP = 1000


def _pg_keys(sql: _Sql, terms: list[Term]) -> str:
    """The index terms an article must all have to have ``terms``, as a text[] parameter list."""
    keys = [k for t in terms for k in (bigrams(t.text) if t.cjk else [t.stem])]
    return f"CAST(ARRAY[{', '.join(sql.param(k) for k in dict.fromkeys(keys))}] AS text[])"


def _term_set(sql: _Sql, term: Term, *, head: bool = False, with_all: list[Term] | None = None) -> str:
    """SELECT of the ids of the published articles having ``term`` (``head``: in the title;
    ``with_all``, PostgreSQL only: and every one of these terms anywhere)."""
    if sql.postgres:
        terms = "kb_search_terms(title_terms, '')" if head else _PG_TERMS
        condition = f"{terms} @> {_pg_keys(sql, [term])}"
        if with_all:
            # Both GIN indexes, one BitmapAnd: still exact, no row read to check.
            condition += f" AND {_PG_TERMS} @> {_pg_keys(sql, with_all)}"
        return f"SELECT article_id FROM kb_search_docs WHERE {condition}"
    if term.cjk and len(term.text) >= 3:
        # Trigram FTS: an exact substring match of three characters or more.
        columns = "{title_norm} : " if head else ""
        return (f"SELECT rowid FROM kb_fts_tri WHERE kb_fts_tri MATCH "
                f"{sql.param(columns + chr(34) + term.text + chr(34))}")
    # One or two Japanese characters are index terms themselves; English: the stem as a prefix.
    token = f'"{term.text}"' if term.cjk else (f'"{term.stem}"*' if len(term.stem) >= 3 else f'"{term.stem}"')
    columns = "{title_terms} : " if head else ""
    return f"SELECT rowid FROM kb_fts_words WHERE kb_fts_words MATCH {sql.param(columns + token)}"


def _every_term_set(sql: _Sql, terms: list[Term]) -> str:
    """SELECT of the ids having every term: one index lookup of all their keys."""
    if sql.postgres:
        return f"SELECT article_id FROM kb_search_docs WHERE {_PG_TERMS} @> {_pg_keys(sql, terms)}"
    tri = [f'"{t.text}"' for t in terms if t.cjk and len(t.text) >= 3]
    words = [_fts_token(t) for t in terms if not (t.cjk and len(t.text) >= 3)]
    parts = []
    if words:
        parts.append(f"SELECT rowid FROM kb_fts_words WHERE kb_fts_words MATCH {sql.param(' AND '.join(words))}")
    if tri:
        parts.append(f"SELECT rowid FROM kb_fts_tri WHERE kb_fts_tri MATCH {sql.param(' AND '.join(tri))}")
    return " INTERSECT ".join(parts)


def _fts_token(term: Term) -> str:
    if term.cjk:
        return f'"{term.text}"'
    return f'"{term.stem}"*' if len(term.stem) >= 3 else f'"{term.stem}"'


def _texts_read(terms: list[Term]) -> str:
    """The small text columns ranking reads: the normalised text for Japanese terms, the
    index terms for English ones — not both when the query has one kind only."""
    columns = []
    if any(t.cjk for t in terms):
        columns += ["s.title_norm || '' AS title_norm", "s.lead_norm || '' AS lead_norm"]
    if any(not t.cjk for t in terms):
        columns += ["' ' || s.title_terms AS title_terms", "' ' || s.lead_terms AS lead_terms"]
    return ", ".join(columns)


def _ranked(terms: list[Term], mode: str, *, visibilities, locale, limit, exclude=(),
            weights=None, preferred_locale=None) -> list[tuple[int, float]]:
    """Every term (``all``) or any term (``any``).  Work is bounded however common the
    terms: ranking reads the articles with a term in their title, plus at most ``CAP``
    others per term — the rest could at best tie with those."""
    sql = _Sql(is_postgres(db.session()))
    weights = weights or [1] * len(terms)
    ctes, columns, score, title_hits = [], [], [], []
    for i, term in enumerate(terms):
        if mode == "any":
            ctes.append(f"t{i}(id) AS MATERIALIZED ({_term_set(sql, term)} LIMIT {CAP})")
        # PostgreSQL, every term required: a title hit that lacks another term is no candidate.
        with_all = terms if sql.postgres and mode == "all" and len(terms) > 1 else None
        ctes.append(f"head{i}(id) AS MATERIALIZED ({_term_set(sql, term, head=True, with_all=with_all)} "
                    f"LIMIT {CAP if mode == 'any' else HEAD_CAP})")
        if term.cjk:
            needle = sql.param(term.text)
            title_hit = sql.instr("d.title_norm", needle)
            lead_hit = sql.instr("d.lead_norm", needle)
        else:
            needle = sql.param(" " + term.stem)
            title_hit = sql.instr("d.title_terms", needle)
            lead_hit = sql.instr("d.lead_terms", needle)
        columns.append(f"CASE WHEN {title_hit} > 0 THEN 1 ELSE 0 END AS h{i}, "
                       f"CASE WHEN {lead_hit} > 0 THEN 1 ELSE 0 END AS l{i}, "
                       + (f"CASE WHEN d.article_id IN (SELECT id FROM t{i}) THEN 1 ELSE 0 END AS m{i}"
                          if mode == "any" else f"1 AS m{i}"))
        has = f"CASE WHEN m{i} + h{i} + l{i} > 0 THEN 15 ELSE 0 END"
        score.append(f"{int(weights[i])} * ({has} + 10 * h{i} + 3 * l{i})")
        title_hits.append(f"h{i} > 0")
    heads = " UNION ".join(f"SELECT id FROM head{i}" for i in range(len(terms)))
    if mode == "all" and sql.postgres:
        # Few matches: rank them all.  Many: those with a term in the title (they have every
        # term, see head), and a sample.  Telling few from many needs HEAD_CAP + 1 rows only:
        # each row read costs a heap visit, and a common word matches a third of the base.
        ctes.append(f"every(id) AS MATERIALIZED ({_every_term_set(sql, terms)} LIMIT {HEAD_CAP + 1})")
        ctes.append(f"cand(id) AS MATERIALIZED (SELECT id FROM every WHERE (SELECT count(*) FROM every) <= "
                    f"{HEAD_CAP} UNION {heads} UNION SELECT id FROM (SELECT id FROM every LIMIT {CAP}) AS sample)")
    elif mode == "all":
        # The same on SQLite, where reading every match from FTS5 is cheap: heads ∩ every.
        ctes.append(f"every(id) AS MATERIALIZED ({_every_term_set(sql, terms)})")
        ctes.append(f"cand(id) AS MATERIALIZED (SELECT id FROM every WHERE (SELECT count(*) FROM every) <= "
                    f"{HEAD_CAP} OR id IN ({heads}) UNION SELECT id FROM (SELECT id FROM every LIMIT {CAP}) AS sample)")
    else:
        others = " UNION ".join(f"SELECT id FROM t{i}" for i in range(len(terms)))
        ctes.append(f"cand(id) AS MATERIALIZED ({heads} UNION {others})")
    where = [f"s.visibility IN ({', '.join(sql.param(v) for v in visibilities)})"]
    if locale:
        where.append(f"s.locale = {sql.param(locale)}")
    if exclude:
        where.append(f"s.article_id NOT IN ({', '.join(sql.param(int(i)) for i in exclude)})")
    # PostgreSQL: "= ANY(ARRAY(…))" makes the planner look the few candidates up by key
    # instead of hashing the whole table.
    candidates = ("kb_search_docs s WHERE s.article_id = ANY(ARRAY(SELECT id FROM cand)) AND" if sql.postgres
                  else "cand JOIN kb_search_docs s ON s.article_id = cand.id WHERE")
    bonus = f" + CASE WHEN locale = {sql.param(preferred_locale)} THEN 5 ELSE 0 END" if preferred_locale else ""
    statement = (
        # d: each candidate's small columns read (and on PostgreSQL detoasted) once.
        f"WITH {', '.join(ctes)}, d AS MATERIALIZED (SELECT s.article_id, s.locale, s.popularity, "
        f"{_texts_read(terms)} FROM {candidates} {' AND '.join(where)}), "
        f"c AS MATERIALIZED (SELECT d.article_id, d.locale, d.popularity, {', '.join(columns)} FROM d) "
        f"SELECT article_id, {' + '.join(score)} + CASE WHEN {' AND '.join(title_hits)} THEN 20 ELSE 0 END{bonus} "
        f"AS score FROM c ORDER BY score DESC, popularity DESC, article_id DESC LIMIT {{limit}}")
    if sql.postgres:
        _millisecond_plans()
    long_japanese = [t.text for t in terms if t.cjk and len(t.text) >= 3]
    if not (sql.postgres and mode == "all" and long_japanese):
        return [(row[0], float(row[1])) for row in
                db.session.execute(text(statement.format(limit=int(limit))), sql.params)]
    # PostgreSQL found these by their bigrams; keep the rows that have the exact substring.
    rows = list(db.session.execute(text(statement.format(limit=int(limit) * 3 + 10)), sql.params))
    texts = dict(db.session.execute(select(KbSearchDoc.article_id, KbSearchDoc.title_norm + " " + KbSearchDoc.body_norm)
                                    .where(KbSearchDoc.article_id.in_([r[0] for r in rows]))).all())
    exact = [(r[0], float(r[1])) for r in rows if all(t in texts.get(r[0], "") for t in long_japanese)]
    return exact[:limit]


def _millisecond_plans() -> None:
    """For this transaction (one round trip): no JIT and no parallel workers.  The search
    function's high cost inflates plan costs past jit_above_cost and the parallel-plan
    thresholds; compiling, or starting a worker process (1–10 ms on a busy 2-core box),
    costs more than these millisecond queries."""
    db.session.execute(text("SELECT set_config('jit', 'off', true), "
                            "set_config('max_parallel_workers_per_gather', '0', true)"))


def _typo_ranked(terms: list[Term], *, visibilities, locale, limit) -> list[tuple[int, float]]:
    """English words with a typo: trigram similarity against titles (cheap: titles only)."""
    words = [t.text for t in terms if not t.cjk and len(t.text) >= 4]
    if not words:
        return []
    sql = _Sql(is_postgres(db.session()))
    where = [f"d.visibility IN ({', '.join(sql.param(v) for v in visibilities)})"]
    if locale:
        where.append(f"d.locale = {sql.param(locale)}")
    if sql.postgres:
        # One wrong letter in a short word leaves half its trigrams: 0.6 (the default) is too strict.
        db.session.execute(text("SET LOCAL pg_trgm.word_similarity_threshold = 0.4"))
        phrase = sql.param(" ".join(words))
        statement = (f"SELECT d.article_id, d.title, word_similarity({phrase}, d.title_norm) * 10 AS score "
                     f"FROM kb_search_docs d WHERE {' AND '.join(where)} AND {phrase} <% d.title_norm "
                     f"ORDER BY score DESC, d.popularity DESC, d.article_id DESC LIMIT {int(limit)}")
    else:
        grams = sorted({w[i:i + 3] for w in words for i in range(len(w) - 2)})
        match = sql.param("{title_norm} : (" + " OR ".join(f'"{g}"' for g in grams) + ")")
        statement = (f"SELECT d.article_id, d.title, -f.rank AS score "
                     f"FROM kb_fts_tri f JOIN kb_search_docs d ON d.article_id = f.rowid "
                     f"WHERE kb_fts_tri MATCH {match} AND {' AND '.join(where)} "
                     f"ORDER BY f.rank LIMIT {int(limit)}")
    rows = db.session.execute(text(statement), sql.params)
    # Keep only titles that share most of a word's trigrams (not every title with "ing").
    return [(row[0], float(row[2])) for row in rows if _similar_enough(words, row[1])]


def _similar_enough(words: list[str], title: str) -> bool:
    title = normalize(title)
    title_grams = {title[i:i + 3] for i in range(len(title) - 2)}
    for word in words:
        grams = {word[i:i + 3] for i in range(len(word) - 2)}
        if grams and len(grams & title_grams) / len(grams) >= 0.5:
            return True
    return False


def _relaxed(terms: list[Term], weights: list[int]) -> tuple[list[Term], list[int]]:
    """``relax`` term by term, each looser term keeping its term's weight."""
    loose, loose_weights, seen = [], [], set()
    for term, weight in zip(terms, weights, strict=True):
        for part in relax([term]):
            if part.key not in seen:
                seen.add(part.key)
                loose.append(part)
                loose_weights.append(weight)
    return loose, loose_weights


def run(terms: list[Term], *, visibilities, locale=None, limit=20, weights=None, preferred_locale=None,
        every_term_first: bool = True) -> list[Hit]:
    """Ranked hits for parsed terms (see the module docstring for the passes)."""
    options = {"visibilities": tuple(visibilities), "locale": locale, "preferred_locale": preferred_locale}
    ranked: list[tuple[int, float]] = []
    if every_term_first:
        ranked = _ranked(terms, "all", limit=limit, weights=weights, **options)
    loose, loose_weights = _relaxed(terms, weights or [1] * len(terms))
    if len(ranked) < limit and (len(loose) > 1 or not every_term_first):
        ranked += _ranked(loose, "any", limit=limit - len(ranked), exclude=[r[0] for r in ranked],
                          weights=loose_weights, **options)
    if not ranked:
        ranked = _typo_ranked(terms, visibilities=options["visibilities"], locale=locale, limit=limit)
    return _hits(ranked, terms)


def _hits(ranked: list[tuple[int, float]], terms: list[Term]) -> list[Hit]:
    if not ranked:
        return []
    rows = {row.article_id: row for row in db.session.execute(
        select(KbSearchDoc.article_id, KbSearchDoc.title, KbSearchDoc.body, KbSearchDoc.locale,
               KbSearchDoc.visibility).where(KbSearchDoc.article_id.in_([r[0] for r in ranked])))}
    hits = []
    for article_id, score in ranked:
        row = rows.get(article_id)
        if row is not None:
            hits.append(Hit(id=article_id, title=row.title, snippet=Markup(highlight(row.body, terms)), score=score,
                            locale=row.locale, visibility=row.visibility))
    return hits


def search(query: str, *, visibilities=("public",), locale: str | None = None, limit: int = 20) -> list[Hit]:
    """Published articles matching ``query``, best first, with highlighted snippets."""
    terms = parse_query(query)
    if not terms:
        return []
    return run(terms, visibilities=visibilities, locale=locale, limit=limit)
