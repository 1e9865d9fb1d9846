"""Declarative base, column types and the after-commit hook.

Services flush; one boundary (the request, the job) commits.  Whatever must happen only
once the data is durable — a Socket.IO push, a job enqueue — is registered with
``on_commit`` and runs after the outermost commit, and is dropped on rollback.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.orm import DeclarativeBase, Session, registry
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC on every backend and hands back aware UTC datetimes.

    SQLite keeps no zone; PostgreSQL would convert to the session zone.  Storing naive
    UTC everywhere makes the two behave the same and keeps keyset cursors comparable.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    registry = registry(metadata=MetaData(naming_convention=NAMING),
                        type_annotation_map={datetime: UTCDateTime(), dict: JSON, list: JSON})


def on_commit(session: Session, callback: Callable[[], Any], *, first: bool = False) -> None:
    """Run ``callback`` after ``session``'s outermost commit; forget it on rollback.
    ``first``: ahead of the callbacks registered so far (pushes go out before job kicks)."""
    if session.get_transaction() is None:
        session.begin()  # so a rollback before any SQL still discards the callback
    callbacks = session.info.setdefault("after_commit", [])
    if first:
        callbacks.insert(0, callback)
    else:
        callbacks.append(callback)


def scratch(session: Session, name: str) -> dict:
    """A dict that lives as long as ``session``'s current transaction (emptied at commit
    and rollback): objects handed between layers within one transaction."""
    return session.info.setdefault("scratch", {}).setdefault(name, {})


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released: the real commit is to come
        return
    session.info.pop("scratch", None)
    session.info.pop(_INSERTED, None)
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed: the request or job succeeded.  What follows a commit
            # (pushes, job kicks) is redone by the periodic sweeps, e.g. while Redis is down.
            log.exception("after-commit work failed; the periodic sweeps will catch up")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop("after_commit", None)
        session.info.pop("scratch", None)
        for obj in session.info.pop(_INSERTED, ()):
            if obj in session:
                session.expunge(obj)


def one_row():
    """A derived table of exactly one row, to outer-join optional rows onto: a statement
    that always answers one row, whether or not they exist."""
    from sqlalchemy import literal, select

    return select(literal(1).label("one")).subquery()


def is_postgres(session_or_engine) -> bool:
    """True on PostgreSQL; takes a (scoped) session, an engine or a connection."""
    get_bind = getattr(session_or_engine, "get_bind", None)
    bind = get_bind() if get_bind is not None else session_or_engine
    return bind.dialect.name == "postgresql"


def first_for_update(session, model, *criteria):
    """The row of ``model`` matching ``criteria`` (a unique key), current and locked for
    a read-decide-write in this transaction, in one statement; None if there is none.

    PostgreSQL: ``SELECT … FOR UPDATE``.  SQLite has no row locks (and ignores FOR
    UPDATE): a no-op ``UPDATE … RETURNING`` of that row takes the database's write lock
    — the effect of ``BEGIN IMMEDIATE`` — and reads it, so nothing read afterwards can
    change before this transaction commits.  Rows already in the session are refreshed.
    """
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import select, update

    if is_postgres(session):
        statement = select(model).where(*criteria).with_for_update()
    else:
        pk = sa_inspect(model).primary_key[0]
        statement = update(model).where(*criteria).values({pk.name: pk}).returning(model)
    return session.scalar(statement.execution_options(synchronize_session=False, populate_existing=True))


def get_for_update(session, model, key):
    """``first_for_update`` by primary key."""
    from sqlalchemy import inspect as sa_inspect

    return first_for_update(session, model, sa_inspect(model).primary_key[0] == key)


@functools.cache
def _insert_returning_id(table):
    # Built once: constructing a statement costs more Python than executing a cached one.
    return table.insert().returning(*table.primary_key.columns)


def insert_now(session, obj) -> None:
    """INSERT the new mapped object ``obj`` with one Core statement and put it in
    ``session`` as a loaded, unchanged row (its id set).

    For hot paths: a unit-of-work flush costs several times the Python of the statement
    itself.  Column defaults are applied here, so every column is known in memory and
    reading one later costs no query.  Relationships are not followed: set foreign keys,
    not related objects, and insert related rows yourself.
    """
    from sqlalchemy import inspect as sa_inspect

    mapper = sa_inspect(type(obj))
    row: dict = {}
    pk_attr = None
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if column.primary_key:
            pk_attr = attr
            continue
        if attr.key not in obj.__dict__:
            default = column.default
            value = None if default is None else (default.arg(None) if default.is_callable else default.arg)
            setattr(obj, attr.key, value)
        row[column.key] = obj.__dict__[attr.key]
    # On the session's connection: the ORM layer adds nothing to a Core INSERT but its cost.
    new_id = session.connection().execute(_insert_returning_id(mapper.local_table), row).scalar_one()
    setattr(obj, pk_attr.key, new_id)
    attach_inserted(session, obj)


_INSERTED = "inserted_rows"


def attach_inserted(session, obj) -> None:
    """Put ``obj``, just INSERTed by hand with every column and its id set, in ``session``
    as a row it loaded (no read back).  A rollback of the transaction forgets it, as the
    unit of work forgets the rows it inserted (SQLite may hand out the same id again)."""
    from sqlalchemy.orm import make_transient_to_detached

    make_transient_to_detached(obj)
    session.add(obj)
    session.info.setdefault(_INSERTED, []).append(obj)


def loaded(session, model, key):
    """The session's copy of ``model`` row ``key`` if it has one (no query), else None."""
    from sqlalchemy.orm.util import identity_key

    return session.identity_map.get(identity_key(model, key))


def written_by_hand(obj, **values) -> None:
    """A statement just wrote ``values`` to ``obj``'s row: the loaded copy follows,
    as if it had read them (nothing pending, no flush)."""
    from sqlalchemy.orm.attributes import set_committed_value

    for name, value in values.items():
        set_committed_value(obj, name, value)
