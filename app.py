"""Tsunagu application factory.  ``python app.py`` serves a development instance."""
from __future__ import annotations

import logging

from flask import Flask

import config
from extensions import api, babel, csrf, db, limiter, login_manager, migrate, socketio


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app.  ``overrides`` replace settings (tests pass a database URL, etc.)."""
    from core.replay import ReplayingFlask

    app = ReplayingFlask(__name__, instance_path=config.INSTANCE.as_posix(), instance_relative_config=False)
    # 1. Settings: environment, then explicit overrides.
    app.config.update(config.load())
    app.config.update(overrides or {})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # 2. Models must be imported before the data layer is bound, so metadata is complete.
    import models  # noqa: F401  (registers every table)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = postgres_engine_options(app.config)
        from core import pg_liveness, replay

        pg_liveness.install()
        replay.install()
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from core.sqlite_writers import TakingTurnsConnection

        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {**options.get("connect_args", {}), "factory": TakingTurnsConnection}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"), render_as_batch=True)
    _sqlite_pragmas(app)

    # 3. Redis, always real: the configured server or a private one for this run.
    from core.redis_conn import connect
    from core.redis_server import ensure_url

    app.config["REDIS_URL"] = ensure_url(app.config.get("REDIS_URL"))
    app.extensions["tsunagu_redis"] = connect(app.config["REDIS_URL"])

    # 4. Who is asking: sessions, bearer tokens, CSRF, security headers, login throttle.
    from accounts import auth
    from core import security

    login_manager.init_app(app)
    auth.init(app)
    csrf.init_app(app)
    security.register(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "tsunagu-limits")
    limiter.init_app(app)

    # 5. Language: the user's choice, else the browser's.
    from core.i18n import select_locale, select_timezone

    # Each domain keeps its own catalogue (<package>/translations); Flask-Babel merges them.
    directories = [config.ROOT / "translations"] + sorted(config.ROOT.glob("*/translations"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=";".join(str(d) for d in directories if d.is_dir()))

    # 6. HTTP API (flask-smorest) and pages; each domain registers its own.
    _register_blueprints(app)
    import customers
    import knowledge
    import tickets

    for domain in (customers, tickets, knowledge):
        domain.init_app(app)
    from core import errors

    errors.register(app)

    # 7. Real time through the Redis message queue (shared by every web and worker process).
    from core.socket_queue import client_manager

    queue_options = {"message_queue": app.config["REDIS_URL"]}
    manager = client_manager(app.config["REDIS_URL"])
    if manager is not None:  # publishes a transaction's pushes in one round trip
        queue_options["client_manager"] = manager
    socketio.init_app(app, **queue_options, async_mode="threading",
                      cors_allowed_origins=[], logger=False, engineio_logger=False)
    from console import socket as console_socket

    console_socket.register(socketio, app.config)

    # 8. Cross-domain reactions (signals) and routing's periodic jobs.
    _connect_signals(app)

    # 9. Command line.
    _register_cli(app)
    from core.i18n import register_template_helpers

    register_template_helpers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from accounts.api import blp as auth_api
    from accounts.teams_api import blp as teams_api
    from accounts.views import bp as accounts_pages
    from console.admin_views import bp as admin_pages
    from console.calls_api import blp as calls_api
    from console.contacts_api import blp as contacts_api
    from console.jobs_api import blp as jobs_api
    from console.suggestions_api import blp as suggestions_api
    from console.views import bp as console_pages

    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie", "name": "session"})
    for blueprint in (auth_api, teams_api, jobs_api, calls_api, contacts_api, suggestions_api):
        api.register_blueprint(blueprint)
    for blueprint in (accounts_pages, console_pages, admin_pages):
        app.register_blueprint(blueprint)


def _connect_signals(app: Flask) -> None:
    """Higher layers subscribe to lower layers' signals here (ARCHITECTURE)."""
    from console import cti, pop
    from customers.events import customers_merged
    from routing import wiring
    from routing.events import offer_created

    wiring.init_app(app)
    offer_created.connect(pop.on_offer_created, app, weak=False)
    customers_merged.connect(cti.on_customers_merged, app, weak=False)


def _register_cli(app: Flask) -> None:
    from accounts.cli import tokens_cli, users_cli
    from console.cli import backup_command, demo_command, restore_command, simulate_command, worker_command

    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(simulate_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def postgres_engine_options(config) -> dict:
    """SQLAlchemy engine options for PostgreSQL."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    # Short OLTP queries: PostgreSQL's JIT only adds compile time (≈100 ms) to the few
    # plans whose estimated cost crosses its threshold (aggregates for the board).
    options["connect_args"] = {**options.get("connect_args", {}), "options": "-c jit=off"}
    # A fixed pool: an overflow connection is closed when handed back, so under load every
    # request past the pool would start (and end) a PostgreSQL server process.
    options.setdefault("pool_size", config["DB_POOL_SIZE"])
    options.setdefault("max_overflow", config["DB_POOL_OVERFLOW"])
    return options


def _sqlite_pragmas(app: Flask) -> None:
    """WAL and a busy timeout let the web, the worker and the mail listener share SQLite
    (their writers take turns: core.sqlite_writers)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


if __name__ == "__main__":  # development server
    application = create_app()
    socketio.run(application, host=application.config["HOST"], port=application.config["PORT"],
                 allow_unsafe_werkzeug=True)
