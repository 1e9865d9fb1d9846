"""Users, teams and API tokens."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow

ROLES = ("operator", "supervisor", "editor", "admin")
# Roles are additive (CONTRACT §8): a supervisor is also an operator, an admin is all.
IMPLIED = {"admin": set(ROLES), "supervisor": {"supervisor", "operator"},
           "operator": {"operator"}, "editor": {"editor"}}
TOKEN_SCOPES = ("api", "cti")


def effective_roles(roles: set[str]) -> set[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= IMPLIED.get(role, set())
    return granted


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120), default="")
    roles_csv: Mapped[str] = mapped_column("roles", String(120), default="operator")
    tier: Mapped[int] = mapped_column(default=1)
    skills: Mapped[list] = mapped_column(default=list)
    extension: Mapped[str | None] = mapped_column(String(20), unique=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    @property
    def roles(self) -> list[str]:
        return [r for r in self.roles_csv.split(",") if r]

    @roles.setter
    def roles(self, value) -> None:
        self.roles_csv = ",".join(r for r in ROLES if r in set(value))

    def has_role(self, role: str) -> bool:
        return role in effective_roles(set(self.roles))

    @property
    def user_id(self) -> int:
        return self.id

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    @property
    def display_name(self) -> str:
        return self.name or self.username


# Membership: a user may be in several teams (Zammad groups, Chatwoot teams).  The
# user_id index answers "which teams am I in" for the "my team's" ticket list.
team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_team_members_user_id", "user_id"),
)


class Team(Base):
    """A group of agents; operators see their teammates' tickets in "my team's"."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Loaded with the team in one extra query for a whole page of teams.
    members: Mapped[list[User]] = relationship(secondary=team_members, order_by=User.id, lazy="selectin")


class ApiToken(Base):
    """A bearer or CTI token.  Only its SHA-256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class TokenPrincipal:
    """Who acts when a request carries ``Authorization: Bearer`` with an ``api`` token:
    the token itself, with admin rights (CONTRACT §3)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    user_id = None
    tier = 0
    skills: list = []
    extension = None
    locale = None
    roles = ["admin"]

    def __init__(self, token: ApiToken):
        self.token_id = token.id
        self.id = None
        self.username = f"token:{token.name}"
        self.name = token.name
        self.display_name = token.name

    def get_id(self):  # never stored in a session
        return None

    def has_role(self, role: str) -> bool:
        return True
