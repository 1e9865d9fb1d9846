"""Input and output schemas of the knowledge base API."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from core.ids import MAX_ID
from core.pagination import MAX_LIMIT, PageArgs
from knowledge.models import LOCALES, STATUSES, VISIBILITIES

# Ids and numbers an integer column can hold (a bigger one is a 422, not a driver error).
_ID = validate.Range(min=1, max=MAX_ID)
_INT = validate.Range(min=-MAX_ID, max=MAX_ID)

MAX_BODY = 200_000


class CategoryField(fields.Field):
    """A category id, a name or a "Parent/Child" path, or null."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ValidationError("an id, a name or null")


_tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), validate=validate.Length(max=20))


class ArticleIn(Schema):
    class Meta:
        unknown = EXCLUDE  # a client may send back what it read (id, html, …)

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(load_default="", validate=validate.Length(max=MAX_BODY))
    visibility = fields.String(load_default="internal", validate=validate.OneOf(VISIBILITIES))
    locale = fields.String(load_default="ja", validate=validate.OneOf(LOCALES))
    category = CategoryField(load_default=None, allow_none=True)
    category_id = fields.Integer(allow_none=True, validate=_ID)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                       validate=validate.Length(max=20))
    translation_of = fields.Integer(allow_none=True, validate=_ID)
    proposal_for = fields.Integer(allow_none=True, validate=_ID)
    needs_review = fields.Boolean(load_default=False)
    note = fields.String(load_default="", validate=validate.Length(max=300))
    status = fields.String(validate=validate.OneOf(STATUSES))  # ignored: a new article is a draft


class ArticlePatch(Schema):
    class Meta:
        unknown = EXCLUDE

    title = fields.String(validate=validate.Length(min=1, max=200))
    body = fields.String(validate=validate.Length(max=MAX_BODY))
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    locale = fields.String(validate=validate.OneOf(LOCALES))
    category = CategoryField(allow_none=True)
    category_id = fields.Integer(allow_none=True, validate=_ID)
    tags = _tags
    needs_review = fields.Boolean()
    status = fields.String(validate=validate.OneOf(STATUSES))
    note = fields.String(load_default="", validate=validate.Length(max=300))
    autosave = fields.Boolean(load_default=False)
    version = fields.Integer(allow_none=True, validate=_INT)


class VersionIn(Schema):
    class Meta:
        unknown = EXCLUDE

    version = fields.Integer(allow_none=True, validate=_INT)


class PublishIn(VersionIn):
    at = fields.AwareDateTime(allow_none=True, load_default=None)


class ArticleListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES + ("any",)))
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    locale = fields.String(validate=validate.OneOf(LOCALES))
    category_id = fields.Integer(validate=_ID)
    q = fields.String(validate=validate.Length(max=200))
    needs_review = fields.Boolean()
    mine = fields.Boolean()
    proposals = fields.Boolean()


class SearchArgs(Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    locale = fields.String(validate=validate.OneOf(LOCALES), load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))


class SuggestArgs(Schema):
    subject = fields.String(load_default="", validate=validate.Length(max=1000))
    body = fields.String(load_default="", validate=validate.Length(max=20_000))
    limit = fields.Integer(load_default=5, validate=validate.Range(1, 50))


class DiffArgs(Schema):
    from_ = fields.Integer(data_key="from", validate=_ID)
    to = fields.Integer(validate=_ID)


class PreviewIn(Schema):
    body = fields.String(required=True, validate=validate.Length(max=MAX_BODY))


class UseIn(Schema):
    ticket_id = fields.Integer(required=True, strict=True, validate=_ID)


class VoteIn(Schema):
    helpful = fields.Boolean(required=True)


class CategoryIn(Schema):
    name_ja = fields.String(required=True, validate=validate.Length(min=1, max=120))
    name_en = fields.String(load_default="", validate=validate.Length(max=120))
    parent_id = fields.Integer(allow_none=True, load_default=None, validate=_ID)
    position = fields.Integer(load_default=0, validate=_INT)


class CategoryPatch(Schema):
    name_ja = fields.String(validate=validate.Length(min=1, max=120))
    name_en = fields.String(validate=validate.Length(max=120))
    parent_id = fields.Integer(allow_none=True, validate=_ID)
    position = fields.Integer(validate=_INT)
    version = fields.Integer(allow_none=True, validate=_INT)


class CategoryOut(Schema):
    id = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    name = fields.Method("_name")
    name_ja = fields.String()
    name_en = fields.String()
    position = fields.Integer()
    version = fields.Integer()

    def _name(self, category):
        from flask_babel import get_locale

        return category.name_for(str(get_locale() or "ja"))


class TranslationOut(Schema):
    id = fields.Integer()
    locale = fields.String()
    title = fields.String()
    status = fields.String()


class ArticleOut(Schema):
    id = fields.Integer()
    title = fields.String()
    body = fields.String()
    html = fields.String()
    status = fields.String()
    visibility = fields.String()
    locale = fields.String()
    category = fields.Method("_category")
    category_id = fields.Integer(allow_none=True)
    tags = fields.List(fields.String())
    version = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    author_name = fields.Method("_author_name")
    updated_by_id = fields.Integer(allow_none=True)
    updated_by_name = fields.Method("_updated_by_name")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    publish_at = fields.DateTime(allow_none=True)
    current_rev = fields.Integer()
    needs_review = fields.Boolean()
    approved = fields.Method("_approved")
    approved_rev = fields.Integer(allow_none=True)
    approved_by_id = fields.Integer(allow_none=True)
    translation_group = fields.Integer(allow_none=True)
    translations = fields.Method("_translations")
    proposal_for_id = fields.Integer(allow_none=True)
    use_count = fields.Integer()
    helpful_yes = fields.Integer()
    helpful_no = fields.Integer()

    def _category(self, article):
        from knowledge.categories import path

        return path(article.category, article.locale)

    def _author_name(self, article):
        from knowledge.service import display_name

        return display_name(article.author_id)

    def _updated_by_name(self, article):
        from knowledge.service import display_name

        return display_name(article.updated_by_id)

    def _approved(self, article):
        from knowledge.service import is_approved

        return is_approved(article)

    def _translations(self, article):
        from knowledge.access import can_read
        from knowledge.service import translations

        return TranslationOut(many=True).dump([a for a in translations(article) if can_read(a)])


class RevisionOut(Schema):
    rev = fields.Integer()
    author_id = fields.Integer(allow_none=True)
    author_name = fields.Method("_author_name")
    created_at = fields.DateTime()
    note = fields.String()
    title = fields.String()
    autosave = fields.Boolean()

    def _author_name(self, revision):
        from knowledge.service import display_name

        return display_name(revision.author_id)


class RevisionDetailOut(RevisionOut):
    body = fields.String()
    visibility = fields.String()
    locale = fields.String()
    category_id = fields.Integer(allow_none=True)
    tags = fields.List(fields.String())


class ImageOut(Schema):
    id = fields.Integer()
    key = fields.String()
    url = fields.Method("_url")
    markdown = fields.Method("_markdown")
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()

    def _url(self, image):
        from knowledge.images import url

        return url(image)

    def _markdown(self, image):
        from knowledge.images import url

        alt = (image.filename or "image").rsplit(".", 1)[0].replace("]", "").replace("[", "")
        return f"![{alt}]({url(image)})"
