"""Every setting of Tsunagu, read from the environment, with the embedded defaults.

CONTRACT §1 lists the variables.  Nothing else in the code reads ``os.environ`` for
settings; it asks ``current_app.config``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = Path(os.environ.get("TSUNAGU_INSTANCE", ROOT / "instance"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE.mkdir(parents=True, exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        # Write atomically so two processes started together agree on one key.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _thresholds(value: str) -> dict:
    """``"13,10,7"`` → score sums for platinum, gold and silver (bronze below)."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"RFM_THRESHOLDS must be three integers like 13,10,7, not {value!r}")
    return dict(zip(("platinum", "gold", "silver"), (int(p) for p in parts), strict=True))


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        if url.startswith("postgres://"):  # Heroku-style URLs
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    INSTANCE.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{INSTANCE / 'tsunagu.db'}"


def load() -> dict:
    """The configuration as a dict, read now (so tests can change the environment)."""
    return {
        "SECRET_KEY": _secret_key(),
        "SQLALCHEMY_DATABASE_URI": _database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", "").strip() or None,
        "HOST": os.environ.get("HOST", "127.0.0.1"),
        "PORT": _int("PORT", 5000),
        "MAIL_DOMAIN": os.environ.get("MAIL_DOMAIN", "support.example.test").lower(),
        "SMTP_LISTEN": os.environ.get("SMTP_LISTEN", "127.0.0.1:2525"),
        "SMTP_URL": os.environ.get("SMTP_URL", "").strip() or None,
        "MAIL_MAX_BYTES": _int("MAIL_MAX_BYTES", 10 * 1024 * 1024),
        "TSUNAGU_DEMO": os.environ.get("TSUNAGU_DEMO", "1") != "0",
        "TIMEZONE": os.environ.get("TSUNAGU_TIMEZONE", "Asia/Tokyo"),
        "INSTANCE_PATH": str(INSTANCE),
        # Largest request body the web accepts (imports, uploads); larger → 413.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 32 * 1024 * 1024),
        # Login throttle: CONTRACT §8, the 11th failure within a minute is refused.
        "LOGIN_FAILURE_LIMIT": os.environ.get("LOGIN_FAILURE_LIMIT", "10 per minute"),
        # RFM ranking: window in days and the score sums for platinum, gold, silver.
        "RFM_WINDOW_DAYS": _int("RFM_WINDOW_DAYS", 365),
        "RFM_THRESHOLDS": _thresholds(os.environ.get("RFM_THRESHOLDS", "13,10,7")),
        # Client → server Socket.IO events per connection: sustained rate and burst.
        "SOCKET_EVENTS_PER_S": _int("SOCKET_EVENTS_PER_S", 5),
        "SOCKET_EVENT_BURST": _int("SOCKET_EVENT_BURST", 30),
        # Seconds a closed console may stay away before its operator goes offline.
        "PRESENCE_GRACE_S": _int("PRESENCE_GRACE_S", 60),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "0") == "1",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # No pool_pre_ping: core.pg_liveness checks a pooled connection without a round trip.
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # PostgreSQL connections each process keeps.  No overflow: an overflow connection is
        # closed when it is handed back, and under load that means a new server process per
        # request; a request waits for a pooled connection instead.
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 15),
        "DB_POOL_OVERFLOW": _int("DB_POOL_OVERFLOW", 0),
        # API documentation (flask-smorest); Swagger UI is served from static/vendor.
        "API_TITLE": "Tsunagu",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/static/vendor/swagger-ui/",
        "BABEL_DEFAULT_LOCALE": "ja",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "LANGUAGES": ["ja", "en"],
        # CSRF is checked by core.security only for cookie-authenticated requests.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRF-Token", "X-CSRFToken"],
    }
