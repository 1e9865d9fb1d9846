"""/api/v1/auth, /api/v1/me, /api/v1/users, /api/v1/tokens (teams: accounts/teams_api.py)."""
from __future__ import annotations

from flask import session
from flask.views import MethodView
from flask_login import current_user, login_user, logout_user
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from accounts import service, teams
from accounts.auth import throttled
from accounts.models import ApiToken, User
from accounts.permissions import public, require
from accounts.schemas import (
    LoginIn,
    LoginOut,
    MeUpdateIn,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatchIn,
    UserTeamsOut,
)
from core.errors import Conflict, NotFound, Unauthorized
from core.pagination import PageArgs, by_id_desc, envelope
from extensions import db

blp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="Login, the current user, users and tokens")


@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginIn)
@blp.response(200, LoginOut)
@throttled
@public
def login(body):
    """Log in; the session cookie authenticates later requests (send X-CSRF-Token on unsafe ones)."""
    user = service.authenticate(body["username"], body["password"])
    if user is None:
        raise Unauthorized("Wrong username or password.")
    session.clear()
    login_user(user)
    return {"user": user, "csrf_token": generate_csrf()}


@blp.route("/auth/logout", methods=["POST"])
@blp.response(200)
@public
def logout():
    logout_user()
    session.clear()
    return {}


@blp.route("/auth/csrf", methods=["GET"])
@require()
@blp.response(200)
def csrf_token():
    return {"csrf_token": generate_csrf()}


@blp.route("/me")
class Me(MethodView):
    @require()
    @blp.response(200, UserTeamsOut)
    def get(self):
        return _with_team_ids(current_user)

    @require()
    @blp.arguments(MeUpdateIn)
    @blp.response(200, UserTeamsOut)
    def patch(self, body):
        if current_user.user_id is None:
            raise Conflict("An API token has no profile to change.")
        for key, value in body.items():
            setattr(current_user, key, value)
        current_user.version += 1
        db.session.commit()
        return _with_team_ids(current_user)


@blp.route("/users")
class Users(MethodView):
    @require("admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200)
    def get(self, args):
        rows, cursor = by_id_desc(select(User), User, args["limit"], args["cursor"])
        team_ids = teams.team_ids_by_user([u.id for u in rows])
        return envelope([{**UserOut().dump(u), "team_ids": team_ids[u.id]} for u in rows], cursor)

    @require("admin")
    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    def post(self, body):
        user = service.create_user(body["username"], body["password"], body["roles"], tier=body["tier"],
                                   skills=body["skills"], extension=body.get("extension"), name=body["name"])
        db.session.commit()
        return user


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @require("admin")
    @blp.response(200, UserTeamsOut)
    def get(self, user_id):
        return _with_team_ids(_user_or_404(user_id))

    @require("admin")
    @blp.arguments(UserPatchIn)
    @blp.response(200, UserTeamsOut)
    def patch(self, body, user_id):
        user = _user_or_404(user_id)
        service.update_user(user, body)
        db.session.commit()
        return _with_team_ids(user)


@blp.route("/tokens")
class Tokens(MethodView):
    @require("admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200)
    def get(self, args):
        rows, cursor = by_id_desc(select(ApiToken), ApiToken, args["limit"], args["cursor"])
        return envelope(TokenOut(many=True).dump(rows), cursor)

    @require("admin")
    @blp.arguments(TokenIn)
    @blp.response(201, TokenCreatedOut)
    def post(self, body):
        token, raw = service.create_token(body["name"], body["scope"])
        db.session.commit()
        # The response schema dumps it: hand over the row's values, not a dumped dict.
        return {**{name: getattr(token, name) for name in TokenOut().fields}, "token": raw}


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@require("admin")
@blp.response(204)
def revoke(token_id):
    if service.revoke_token(token_id) is None:
        raise NotFound("No such token.")
    db.session.commit()


def _with_team_ids(user):
    """The user's JSON with ``team_ids`` (an API token, not a user, is in no team)."""
    data = UserOut().dump(user)
    data["team_ids"] = teams.team_ids_by_user([user.id])[user.id] if user.user_id is not None else []
    return data


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user
