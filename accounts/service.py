"""Operations on users and tokens.  Callers commit."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import ROLES, TOKEN_SCOPES, ApiToken, User
from core.db import utcnow
from core.errors import Conflict, Invalid
from core.row_copies import RowCopies
from extensions import db

# A hash to compare against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash("not a real password")


def parse_roles(value) -> list[str]:
    roles = [r.strip() for r in (value.split(",") if isinstance(value, str) else value) if r.strip()]
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise Invalid(f"Unknown role(s): {', '.join(unknown) or '(none)'}; choose from {', '.join(ROLES)}.",
                      fields={"roles": [f"one or more of {', '.join(ROLES)}"]})
    return roles


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def create_user(username: str, password: str, roles, *, tier: int = 1, skills=(), extension=None,
                name: str = "", locale: str | None = None) -> User:
    """Create a user; an existing username or extension is a conflict and changes nothing."""
    username = username.strip()
    if not username or len(username) > 80:
        raise Invalid("A username of 1–80 characters is required.", fields={"username": ["required"]})
    if not password or len(password) < 8:
        raise Invalid("A password of at least 8 characters is required.", fields={"password": ["too short"]})
    if tier not in (1, 2, 3):
        raise Invalid("tier must be 1, 2 or 3.", fields={"tier": ["must be 1, 2 or 3"]})
    if find_user(username):
        raise Conflict(f"User {username!r} already exists.")
    if extension and db.session.scalar(select(User).where(User.extension == str(extension))):
        raise Conflict(f"Extension {extension} already belongs to another user.")
    user = User(username=username, password_hash=generate_password_hash(password),
                name=name or username, tier=tier, skills=sorted({s.strip() for s in skills if s.strip()}),
                extension=str(extension) if extension else None, locale=locale)
    user.roles = parse_roles(roles)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User | None:
    user = find_user(username or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token (always a new one, CONTRACT §8); returns the row and the raw token."""
    if scope not in TOKEN_SCOPES:
        raise Invalid(f"scope must be one of {', '.join(TOKEN_SCOPES)}.", fields={"scope": ["invalid"]})
    raw = f"tsu_{scope}_{secrets.token_urlsafe(32)}"
    token = ApiToken(name=name.strip() or scope, scope=scope, token_hash=_digest(raw), prefix=raw[:12])
    db.session.add(token)
    db.session.flush()
    return token, raw


# Read on every request: the logged-in user and the CTI webhook's or API client's token.
USER_COPIES = RowCopies("users")
TOKEN_COPIES = RowCopies("api_tokens")
_TOKEN_BY_DIGEST = select(ApiToken).where(ApiToken.token_hash == bindparam("digest"))


def load_user(user_id: int) -> User | None:
    """The user, from this process's copy while no user changed anywhere."""
    return USER_COPIES.load(db.session(), User, user_id, lambda: db.session.get(User, user_id))


def verify_token(raw: str | None, scope: str) -> ApiToken | None:
    """The live token of that scope matching ``raw``, or None (from this process's copy
    while no token changed anywhere: a revocation applies to the next request)."""
    if not raw:
        return None
    digest = _digest(raw.strip())
    token = TOKEN_COPIES.load(db.session(), ApiToken, digest,
                              lambda: db.session.scalar(_TOKEN_BY_DIGEST, {"digest": digest}))
    if token is None or token.scope != scope or token.revoked_at is not None:
        return None
    return token


def touch_token(token: ApiToken) -> None:
    """Note the use at most once a minute: a write per request would serialise every
    request made with one token on that row's lock."""
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= 60:
        token.last_used_at = now


def revoke_token(token_id: int) -> ApiToken | None:
    token = db.session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def update_user(user: User, changes: dict) -> User:
    """Apply an admin's changes to a user."""
    if "extension" in changes and changes["extension"]:
        owner = db.session.scalar(select(User).where(User.extension == str(changes["extension"])))
        if owner is not None and owner.id != user.id:
            raise Conflict(f"Extension {changes['extension']} already belongs to {owner.username}.")
    for key, value in changes.items():
        if key == "password":
            user.password_hash = generate_password_hash(value)
        elif key == "roles":
            user.roles = parse_roles(value)
        elif key == "skills":
            user.skills = sorted({s.strip() for s in value if s.strip()})
        else:
            setattr(user, key, value or None if key == "extension" else value)
    user.version += 1
    return user
