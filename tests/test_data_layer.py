"""The data layer on the configured backend: migrations, UTC times, after-commit hooks."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select

from core.db import on_commit


def test_migrations_created_every_model_table(app):
    from extensions import db

    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= tables
        assert "alembic_version" in tables


def test_datetimes_round_trip_as_aware_utc(app, make_user):
    from accounts.models import User
    from extensions import db

    make_user("timey")
    jst = timezone(timedelta(hours=9))
    moment = datetime(2026, 1, 2, 9, 30, tzinfo=jst)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "timey"))
        user.created_at = moment
        db.session.commit()
        db.session.expire_all()
        loaded = db.session.scalar(select(User).where(User.username == "timey")).created_at
        assert loaded.tzinfo is not None and loaded == moment
        assert loaded.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(app, make_user):
    from accounts.models import User
    from extensions import db

    make_user("naive")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "naive"))
        user.created_at = datetime(2026, 1, 1)
        from sqlalchemy.exc import StatementError

        with pytest.raises(StatementError, match="naive datetime"):
            db.session.commit()
        db.session.rollback()


def test_after_commit_callbacks_run_only_after_commit(app):
    from extensions import db

    ran = []
    with app.app_context():
        on_commit(db.session(), lambda: ran.append("first"))
        db.session.rollback()
        assert ran == []
        on_commit(db.session(), lambda: ran.append("second"))
        assert ran == []
        db.session.commit()
        assert ran == ["second"]


def test_after_commit_callbacks_wait_for_the_outer_commit_not_a_savepoint(app):
    from sqlalchemy import text

    from core.db import scratch
    from extensions import db

    ran = []
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        on_commit(db.session(), lambda: ran.append("done"))
        scratch(db.session(), "handed")["x"] = 1
        with db.session.begin_nested():
            db.session.execute(text("SELECT 2"))
        assert ran == [] and scratch(db.session(), "handed") == {"x": 1}  # a savepoint is not the commit
        db.session.commit()
        assert ran == ["done"] and scratch(db.session(), "handed") == {}


def test_a_failing_after_commit_callback_leaves_the_commit_and_the_others_alone(app):
    """The data is committed before the callbacks run: one failing (Redis down while a
    routing kick is queued) must not turn the request into an error or skip the rest."""
    from extensions import db

    ran = []

    def fails():
        raise ConnectionError("redis down")

    with app.app_context():
        on_commit(db.session(), fails)
        on_commit(db.session(), lambda: ran.append("after"))
        db.session.commit()
        assert ran == ["after"]


def test_rows_inserted_by_hand_are_forgotten_on_rollback(app):
    """``insert_now`` rows are in the session like loaded ones; a rollback drops them (the
    database may hand out the same id again), a commit keeps them."""
    from customers import service as customers
    from extensions import db
    from tickets import service

    with app.app_context():
        customer = customers.create({"name": "巻き戻し 太郎"})
        db.session.commit()
        held = service.open_ticket(customer, subject="first", channel="web")
        assert held in db.session
        db.session.rollback()
        assert held not in db.session
        again = service.open_ticket(customers.get(customer.id), subject="second", channel="web")
        db.session.commit()
        assert again in db.session and again.subject == "second"


def test_unique_username_is_enforced_by_the_database(app, make_user):
    from sqlalchemy.exc import IntegrityError
    from werkzeug.security import generate_password_hash

    from accounts.models import User
    from extensions import db

    make_user("unique1")
    with app.app_context():
        db.session.add(User(username="unique1", password_hash=generate_password_hash("x")))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_audit_record_writes_actor_and_detail(app, make_user):
    from core.audit import AuditEntry, record
    from extensions import db

    with app.app_context():
        record("customer.read", customer_id=42, detail={"fields": ["name"]})
        db.session.commit()
        entry = db.session.scalar(select(AuditEntry))
        assert entry.to_dict()["actor_username"] == "system"
        assert entry.customer_id == 42 and entry.detail == {"fields": ["name"]}
