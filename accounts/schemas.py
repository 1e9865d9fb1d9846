"""Input and output schemas for accounts."""
from marshmallow import Schema, fields, validate

from accounts.models import ROLES


class LoginIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String(attribute="display_name")
    roles = fields.List(fields.String())
    tier = fields.Integer()
    skills = fields.List(fields.String())
    extension = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    active = fields.Boolean()


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
