"""How articles are used: an operator used one in a ticket's reply (article ↔ ticket), and
"was this helpful?" answers from the help center."""
from __future__ import annotations

import hashlib

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import Invalid, NotFound
from extensions import db
from knowledge import search
from knowledge.models import KbArticle, KbUse, KbVote


def record_use(article_id: int, ticket_id: int, user_id: int | None) -> bool:
    """Record that ``article_id`` was used to answer ``ticket_id``; once per pair.
    Returns True when this use is new.  Flushes; the caller commits."""
    if not isinstance(ticket_id, int) or ticket_id <= 0:
        raise Invalid("A ticket id is a positive integer.", fields={"ticket_id": ["invalid"]})
    article = db.session.get(KbArticle, article_id)
    if article is None:
        raise NotFound("No such article.")
    exists = db.session.scalar(select(KbUse.id).where(KbUse.article_id == article_id, KbUse.ticket_id == ticket_id))
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():  # a concurrent first use of the same pair wins once
            db.session.add(KbUse(article_id=article_id, ticket_id=ticket_id, user_id=user_id))
    except IntegrityError:
        return False
    article.use_count = (article.use_count or 0) + 1
    search.refresh_popularity(article)
    db.session.flush()
    return True


def uses_of_ticket(ticket_id: int) -> list[int]:
    """The articles used in a ticket, in the order they were used."""
    return list(db.session.scalars(select(KbUse.article_id).where(KbUse.ticket_id == ticket_id).order_by(KbUse.id)))


def voter_key(identity: str) -> str:
    """A one-way key for a voter (a user id or a random per-browser id): nothing that
    identifies a person is stored with a vote."""
    secret = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{secret}:kb-vote:{identity}".encode()).hexdigest()


def vote(article: KbArticle, helpful: bool, identity: str) -> KbArticle:
    """One vote per voter and article; voting again changes the vote."""
    key = voter_key(identity)
    existing = db.session.scalar(select(KbVote).where(KbVote.article_id == article.id, KbVote.voter == key))
    if existing is not None:
        if existing.helpful == helpful:
            return article
        if existing.helpful:
            article.helpful_yes -= 1
        else:
            article.helpful_no -= 1
        existing.helpful = helpful
    else:
        db.session.add(KbVote(article_id=article.id, voter=key, helpful=helpful))
    if helpful:
        article.helpful_yes += 1
    else:
        article.helpful_no += 1
    search.refresh_popularity(article)
    db.session.flush()
    return article
