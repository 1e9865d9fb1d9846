"""Input and output schemas for accounts."""
from marshmallow import Schema, fields, validate

from accounts.models import ROLES


class LoginIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class UserOut(Schema):
    id = fields.Integer(allow_none=True)  # null for an API token acting (GET /me)
    username = fields.String()
    name = fields.String(attribute="display_name")
    roles = fields.List(fields.String())
    tier = fields.Integer()
    skills = fields.List(fields.String())
    extension = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    active = fields.Boolean()


class UserTeamsOut(UserOut):
    """A user with ``team_ids`` (/users, /me): dumps ``UserOut``'s output plus the ids,
    which the handler reads for a whole page in one query."""

    name = fields.String()
    team_ids = fields.List(fields.Integer())


class LoginOut(Schema):
    user = fields.Nested(UserOut)
    csrf_token = fields.String()


class MeUpdateIn(Schema):
    locale = fields.String(validate=validate.OneOf(["ja", "en"]), allow_none=True)
    name = fields.String(validate=validate.Length(min=1, max=120))


class UserIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=8, max=256))
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1))
    tier = fields.Integer(load_default=1, validate=validate.Range(1, 3))
    skills = fields.List(fields.String(validate=validate.Length(max=40)), load_default=list)
    extension = fields.String(allow_none=True, validate=validate.Length(max=20))
    name = fields.String(load_default="", validate=validate.Length(max=120))


class UserPatchIn(Schema):
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), validate=validate.Length(min=1))
    tier = fields.Integer(validate=validate.Range(1, 3))
    skills = fields.List(fields.String(validate=validate.Length(max=40)))
    extension = fields.String(allow_none=True, validate=validate.Length(max=20))
    name = fields.String(validate=validate.Length(min=1, max=120))
    active = fields.Boolean()
    password = fields.String(validate=validate.Length(min=8, max=256))


class TokenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    scope = fields.String(required=True, validate=validate.OneOf(["api", "cti"]))


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    scope = fields.String()
    prefix = fields.String()
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class TokenCreatedOut(TokenOut):
    token = fields.String()


_MEMBER_IDS = fields.List(fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
                          validate=validate.Length(max=500))


class TeamIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    member_ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
                             load_default=list, validate=validate.Length(max=500))


class TeamPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=80))
    description = fields.String(validate=validate.Length(max=500))
    member_ids = _MEMBER_IDS
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class TeamMemberOut(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String(attribute="display_name")


class TeamOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    member_ids = fields.Method("_member_ids")
    members = fields.List(fields.Nested(TeamMemberOut))
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _member_ids(self, team) -> list[int]:
        return [member.id for member in team.members]
