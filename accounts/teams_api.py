"""/api/v1/teams: operators read the teams, admins create, change and delete them."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from accounts import teams
from accounts.models import Team
from accounts.permissions import require
from accounts.schemas import TeamIn, TeamOut, TeamPatchIn
from core.pagination import PageArgs, by_id_desc, envelope
from core.versioning import if_match_version
from extensions import db

blp = Blueprint("teams_api", __name__, url_prefix="/api/v1", description="Teams of agents")

_out = TeamOut()


def _with_etag(team: Team, status: int = 200) -> tuple:
    return _out.dump(team), status, {"ETag": f'"{team.version}"'}


@blp.route("/teams")
class Teams(MethodView):
    @require("operator")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200)
    def get(self, args):
        """Teams newest first, with their members' ids and names."""
        rows, cursor = by_id_desc(select(Team), Team, args["limit"], args["cursor"])
        return envelope(_out.dump(rows, many=True), cursor)

    @require("admin")
    @blp.arguments(TeamIn)
    @blp.response(201)
    def post(self, body):
        """Create a team; a name already taken (ignoring case) is 409, an unknown member 422."""
        team = teams.create(body["name"], body["description"], body["member_ids"])
        db.session.commit()
        return _with_etag(team, 201)


@blp.route("/teams/<int:team_id>")
class TeamItem(MethodView):
    @require("operator")
    @blp.response(200)
    def get(self, team_id):
        return _with_etag(teams.get(team_id))

    @require("admin")
    @blp.arguments(TeamPatchIn)
    @blp.response(200)
    def patch(self, body, team_id):
        """Rename, describe or set ``member_ids`` (optimistic: ``version`` or If-Match; stale → 409)."""
        version = body.pop("version", None)
        if version is None:
            version = if_match_version()
        team = teams.get(team_id, lock=True)
        teams.update(team, body, expected_version=version)
        db.session.commit()
        return _with_etag(team)

    @require("admin")
    @blp.response(204)
    def delete(self, team_id):
        """Delete the team (its members' accounts and tickets stay)."""
        teams.delete(teams.get(team_id, lock=True), expected_version=if_match_version())
        db.session.commit()
