"""core.pg_liveness: a pooled PostgreSQL connection the server closed is found without a
round trip, and the pool hands out a fresh one instead (real PostgreSQL in both passes)."""
import time

import psycopg
import pytest
from sqlalchemy import create_engine, text

from core import pg_liveness
from tests.conftest import BACKEND, PG_ADMIN_URL


def terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def until(predicate, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_terminated_connection_looks_dead_and_a_healthy_idle_one_does_not():
    connection = psycopg.connect(PG_ADMIN_URL)
    try:
        connection.execute("SELECT 1")
        assert pg_liveness.looks_dead(connection)  # inside a transaction: not fit to hand out
        connection.rollback()
        assert not pg_liveness.looks_dead(connection)
        terminate(connection.info.backend_pid)
        assert until(lambda: pg_liveness.looks_dead(connection))
    finally:
        connection.close()
    assert pg_liveness.looks_dead(connection)


def test_the_pool_replaces_connections_the_server_closed_without_pre_ping():
    pg_liveness.install()
    engine = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=2)
    try:
        with engine.connect() as connection:
            first_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            raw = connection.connection.dbapi_connection
        terminate(first_pid)
        assert until(lambda: pg_liveness.looks_dead(raw))
        with engine.connect() as connection:  # no error: the pool opened another connection
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != first_pid
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _postgres_here():
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:  # CI=true fails instead (test.sh checks PostgreSQL first)
        pytest.fail(f"PostgreSQL is needed for this test: {error}")


def test_more_requests_than_pooled_connections_wait_for_one_instead_of_opening_more():
    """Under load an overflow connection (opened past the pool, closed when handed back)
    is a new PostgreSQL server process per request; the pool is fixed instead."""
    import threading

    from sqlalchemy import event

    import config
    from app import postgres_engine_options

    settings = {**config.load(), "DB_POOL_SIZE": 3}
    assert settings["DB_POOL_OVERFLOW"] == 0
    engine = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                           **postgres_engine_options(settings))
    opened: list[int] = []
    event.listen(engine, "connect", lambda dbapi_connection, record: opened.append(1))
    finished: list[int] = []

    def request() -> None:
        for _ in range(5):
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_sleep(0.01)"))
        finished.append(1)

    try:
        threads = [threading.Thread(target=request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(finished) == 8
        assert len(opened) == 3  # 40 requests from 8 threads at once, 3 server connections
        with engine.connect() as connection:
            assert connection.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        engine.dispose()


def _server_processes_alive(pid: int) -> bool:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] > 0


@pytest.mark.skipif(BACKEND != "postgresql", reason="the app's own pool on PostgreSQL (SQLite has no server)")
def test_a_request_whose_first_statement_meets_a_closed_connection_runs_again(app, monkeypatch):
    """The moment after the server was told to stop a pooled connection's process and before
    its goodbye can be read, the checkout cannot tell; the request's first statement fails
    on it.  Nothing of the request has happened yet, so it runs again on a new connection
    and answers 200 instead of 503."""
    from sqlalchemy import event

    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token("pbx", "cti")
        db.session.commit()
        db.engine.dispose()
        with db.engine.connect() as connection:  # the pool's only connection now
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        engine = db.engine
    terminate(pid)
    assert until(lambda: not _server_processes_alive(pid))
    monkeypatch.setattr(pg_liveness, "looks_dead", lambda connection: False)  # the goodbye not read yet
    lost: list[bool] = []
    note = lambda context: lost.append(context.is_disconnect)  # noqa: E731
    event.listen(engine, "handle_error", note)
    try:
        answer = app.test_client().post(f"/api/v1/cti/{raw}", data={"event": "hangup", "callId": "never-seen"})
    finally:
        event.remove(engine, "handle_error", note)
    assert lost == [True]  # the first statement did meet the closed connection
    assert answer.status_code == 200, answer.get_json()
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


@pytest.mark.skipif(BACKEND != "postgresql", reason="the app's own pool on PostgreSQL (SQLite has no server)")
def test_a_request_that_has_run_a_statement_is_not_run_again(app):
    """Only a request with nothing done yet is replayed: after one statement a lost
    connection is the contract's 503."""
    from sqlalchemy.exc import OperationalError

    from core.replay import is_replayable
    from extensions import db

    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
                            connection_invalidated=True)
    with app.test_request_context("/api/v1/customers"):
        assert is_replayable(lost)
        db.session.execute(text("SELECT 1"))
        assert not is_replayable(lost)
        db.session.rollback()
    with app.test_request_context("/api/v1/customers"):
        assert not is_replayable(OperationalError("SELECT 1", {}, Exception("could not connect")))
