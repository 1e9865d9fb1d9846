"""A pooled PostgreSQL connection is checked before use without a round trip.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` each time a request takes a connection
from the pool: on the CTI webhook's hot path that is one round trip in twenty.  A
connection the server has closed (``pg_terminate_backend``, a restart, an idle timeout)
has something to read on its socket: the server's goodbye, then end of file.  An idle,
healthy connection has nothing to read.  A poll of the socket with no timeout tells them
apart.  A connection found dead is discarded in the pool's checkout event
(``DisconnectionError``), and the pool opens another.

A connection lost without a word from the server (a cut network) is found by its first
statement instead, as pre-ping would find it by a time-out. SQLAlchemy then invalidates
the pool, and the request fails with the contract's error.
"""
from __future__ import annotations

import logging
import select

from sqlalchemy import event, exc
from sqlalchemy.pool import Pool

log = logging.getLogger(__name__)


def looks_dead(connection) -> bool:
    """True if the psycopg connection is closed, broken, mid-transaction, or has unread input."""
    from psycopg.pq import TransactionStatus

    if connection.closed or connection.broken:
        return True
    if connection.info.transaction_status != TransactionStatus.IDLE:
        return True
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _check_on_checkout(dbapi_connection, _record, _proxy) -> None:
    import psycopg

    if isinstance(dbapi_connection, psycopg.Connection) and looks_dead(dbapi_connection):
        log.info("a pooled PostgreSQL connection was closed by the server; opening another")
        raise exc.DisconnectionError("the server closed this pooled connection")


def install() -> None:
    """Check every pool's PostgreSQL connections on checkout (once per process)."""
    if not event.contains(Pool, "checkout", _check_on_checkout):
        event.listen(Pool, "checkout", _check_on_checkout)
