"""Text analysis for knowledge-base search, the same for both database backends.

Documents: NFKC + lower case; English words become Snowball stems; Japanese runs
(no spaces between words) become their bigrams and single characters, so that one- and
two-character queries (請求, 返品, 配送, 解約) have index terms of their own — SQLite
FTS5's trigram tokenizer and PostgreSQL's pg_trgm only see three characters and more.

Queries: Japanese runs are cut where the script changes (kanji / katakana / hiragana);
particles and okurigana are dropped (パスワードを忘れた → パスワード, 忘); English stop
words are dropped and the rest stemmed (shipping → ship).  ``relax`` loosens a query whose
every term did not match: long kanji compounds become their bigrams (配送状況 → 配送,
送状, 状況), so 配送の状況 is found too.
"""
from __future__ import annotations

import html
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

_CJK = "\u3005\u3040-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A Japanese run, or a run of other letters/digits (underscore is not a word character here).
_TOKEN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
_KANJI = re.compile(r"[\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HIRAGANA = re.compile(r"[\u3041-\u309f]")
# One hiragana between kanji is okurigana (支払い方法, 問い合わせ) unless it is a particle.
_PARTICLES = set("のをがはにでともへやか")
STOP_WORDS = frozenset("""
a an the to of in on for my i is it how do does did can could what why when where which who with and or not
be was were are am you your me we our us this that these those from at by as please want need get got
have has had will would should if so about any some there their they them he she his her its im dont
""".split())

_local = threading.local()


def _stemmer():
    # Snowball stemmer objects keep state between calls: one per thread.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """The English stem of a lower-case word (digits and other scripts unchanged)."""
    if not word.isascii() or not word.isalpha() or len(word) < 3:
        return word
    return _stemmer().stemWord(word)


def normalize(text: str) -> str:
    """NFKC (full-width → ASCII, half-width kana → full) and lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def _script(char: str) -> str:
    if _KANJI.match(char):
        return "kanji"
    if _HIRAGANA.match(char):
        return "hira"
    return "kata"  # katakana and the long-vowel mark


# --- documents ---------------------------------------------------------------------------

def index_terms(normalized: str, *, japanese: bool = True) -> str:
    """Space-separated distinct index terms of normalised text: English stems and their
    prefixes of three characters or more (so "passw" finds "password" with an exact
    term lookup), then each Japanese bigram and character (unless ``japanese=False``)."""
    terms: dict[str, None] = {}
    for match in _TOKEN.finditer(normalized):
        cjk, word = match.groups()
        if word:
            stemmed = stem(word)
            terms[stemmed] = None
            for end in range(3, len(stemmed)):
                terms[stemmed[:end]] = None
            continue
        if not japanese:
            continue
        for i, char in enumerate(cjk):
            terms[char] = None
            if i + 1 < len(cjk):
                terms[cjk[i:i + 2]] = None
    return " ".join(terms)


def bigrams(text: str) -> list[str]:
    """The index terms a Japanese query term must all have (itself if 1–2 characters)."""
    if len(text) <= 2:
        return [text]
    return list(dict.fromkeys(text[i:i + 2] for i in range(len(text) - 1)))


# --- queries -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One query term: a Japanese substring (``cjk``) or an English word and its stem."""

    text: str
    cjk: bool
    stem: str = ""

    @property
    def key(self) -> str:
        return self.text if self.cjk else self.stem


def _split_japanese(run: str) -> list[str]:
    """Cut a Japanese run into search words (see the module docstring)."""
    if all(_script(c) == "hira" for c in run):
        return [run]
    segments: list[tuple[str, str]] = []  # (script, text)
    for char in run:
        kind = _script(char)
        if segments and segments[-1][0] == kind:
            segments[-1] = (kind, segments[-1][1] + char)
        else:
            segments.append((kind, char))
    words: list[str] = []
    current = ""
    for i, (kind, text) in enumerate(segments):
        if kind == "hira":
            between_kanji = (0 < i < len(segments) - 1 and segments[i - 1][0] == "kanji"
                             and segments[i + 1][0] == "kanji")
            if between_kanji and len(text) == 1 and text not in _PARTICLES and current:
                current += text  # okurigana inside a compound: 支払い方法
                continue
            if current:
                words.append(current)
            current = ""
            continue
        if current and segments[i - 1][0] != "hira" and kind != segments[i - 1][0]:
            words.append(current)  # katakana ↔ kanji boundary: パスワード|再設定
            current = ""
        current += text
    if current:
        words.append(current)
    return words


def parse_query(query: str, *, max_terms: int = 10, min_cjk: int = 1, min_word: int = 1) -> list[Term]:
    """The distinct search terms of a query, in order."""
    normalized = normalize(query)
    terms: list[Term] = []
    seen: set[str] = set()
    words = [m.groups() for m in _TOKEN.finditer(normalized)]
    only_stop_words = all(w and w in STOP_WORDS for _, w in words)
    for cjk, word in words:
        candidates: list[Term] = []
        if cjk:
            candidates = [Term(part, True) for part in _split_japanese(cjk) if len(part) >= min_cjk]
        elif word and (only_stop_words or word not in STOP_WORDS) and len(word) >= min_word:
            candidates = [Term(word, False, stem(word))]
        for term in candidates:
            if term.key not in seen:
                seen.add(term.key)
                terms.append(term)
    return terms[:max_terms]


def relax(terms: list[Term]) -> list[Term]:
    """The looser terms for a second, any-term pass (see the module docstring)."""
    relaxed: list[Term] = []
    seen: set[str] = set()
    for term in terms:
        parts = [term]
        if term.cjk and len(term.text) >= 4 and all(_script(c) == "kanji" for c in term.text):
            parts = [Term(term.text[i:i + 2], True) for i in range(len(term.text) - 1)]
        for part in parts:
            if part.key not in seen:
                seen.add(part.key)
                relaxed.append(part)
    return relaxed


def has_japanese(text: str) -> bool:
    return bool(re.search(f"[{_CJK}]", text or ""))


# --- snippets ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def _normalized_with_map(text: str) -> tuple[str, list[int]]:
    """``normalize(text)`` and, for each of its characters, the index in ``text``."""
    normalized = normalize(text)
    if len(normalized) == len(text):
        return normalized, list(range(len(text)))
    out: list[str] = []
    positions: list[int] = []
    for index, char in enumerate(text):
        mapped = normalize(char)
        out.append(mapped)
        positions.extend([index] * len(mapped))
    return "".join(out), positions


def match_spans(text: str, terms: list[Term]) -> list[tuple[int, int]]:
    """Where the terms occur in ``text`` (original offsets), sorted and merged."""
    normalized, positions = _normalized_with_map(text)
    spans: list[tuple[int, int]] = []
    for term in terms:
        if term.cjk:
            start = normalized.find(term.text)
            while start != -1 and len(spans) < 200:
                spans.append((start, start + len(term.text)))
                start = normalized.find(term.text, start + len(term.text))
    stems = [t.stem for t in terms if not t.cjk]
    if stems:
        for match in _WORD.finditer(normalized):
            if _word_matches(match.group(), stems):
                spans.append((match.start(), match.end()))
    if not spans:
        return []
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    end_of_text = len(text)
    return [(positions[s], positions[e - 1] + 1 if e - 1 < len(positions) else end_of_text) for s, e in merged]


def _word_matches(word: str, stems: list[str]) -> bool:
    return word.isascii() and any(stem(word).startswith(s) or word.startswith(s) for s in stems)


def first_match(text: str, terms: list[Term]) -> int | None:
    """Where the earliest match of the terms starts in ``text`` (original offset); English
    words are stemmed only up to there, not through a whole long article."""
    normalized, positions = _normalized_with_map(text)
    found = [normalized.find(t.text) for t in terms if t.cjk]
    best = min((f for f in found if f != -1), default=None)
    stems = [t.stem for t in terms if not t.cjk]
    if stems:
        for match in _WORD.finditer(normalized):
            if best is not None and match.start() >= best:
                break
            if _word_matches(match.group(), stems):
                best = match.start()
                break
    return None if best is None else positions[best]


def highlight(text: str, terms: list[Term], *, width: int = 160) -> str:
    """An HTML snippet of ``text`` around the first match: every character escaped, the
    matches wrapped in ``<mark>`` — nothing from the article reaches the page as markup.
    Only the window shown is searched for the other matches."""
    text = re.sub(r"\s+", " ", text or "").strip()
    first = first_match(text, terms)
    start = 0 if first is None else max(0, first - width // 3)
    end = min(len(text), start + width)
    if end - start < width:
        start = max(0, end - width)
    window = text[start:end]
    # A little past the window too, so that a match cut by its end is still marked.
    spans = match_spans(text[start:end + 40], terms) if first is not None else []
    parts: list[str] = ["…" if start > 0 else ""]
    cursor = 0
    for span_start, span_end in spans:
        if span_start >= len(window):
            break
        span_end = min(span_end, len(window))
        parts.append(html.escape(window[cursor:span_start]))
        parts.append("<mark>" + html.escape(window[span_start:span_end]) + "</mark>")
        cursor = span_end
    parts.append(html.escape(window[cursor:]))
    if end < len(text):
        parts.append("…")
    return "".join(parts)
