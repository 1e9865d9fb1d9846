"""core.pg_liveness: a pooled PostgreSQL connection the server closed is found without a
round trip, and the pool hands out a fresh one instead (real PostgreSQL in both passes)."""
import time

import psycopg
import pytest
from sqlalchemy import create_engine, text

from core import pg_liveness
from tests.conftest import PG_ADMIN_URL


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
