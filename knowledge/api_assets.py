"""/api/v1/kb/categories (the tree) and /api/v1/kb/images (uploads)."""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from accounts.permissions import require
from core.errors import Invalid
from core.pagination import envelope
from extensions import db
from knowledge import access, categories, images
from knowledge.schemas import CategoryIn, CategoryOut, CategoryPatch, ImageOut

blp = Blueprint("kb_assets_api", __name__, url_prefix="/api/v1", description="Knowledge base categories and images")


@blp.route("/kb/categories")
class Categories(MethodView):
    @blp.response(200)
    @require("editor", "operator")
    def get(self):
        """Every category (a tree through ``parent_id``), in display order."""
        return envelope(CategoryOut(many=True).dump(categories.all_categories()), None)

    @require("editor")
    @blp.arguments(CategoryIn)
    @blp.response(201, CategoryOut)
    def post(self, body):
        category = categories.create(body)
        db.session.commit()
        return category, 201, {"ETag": f'"{category.version}"'}


@blp.route("/kb/categories/<int:category_id>")
class Category(MethodView):
    @require("editor")
    @blp.arguments(CategoryPatch)
    @blp.response(200, CategoryOut)
    def patch(self, body, category_id):
        category = categories.get(category_id)
        categories.update(category, body, body.pop("version", None))
        db.session.commit()
        return category, 200, {"ETag": f'"{category.version}"'}

    @blp.response(204)
    @require("editor")
    def delete(self, category_id):
        """Only an empty category (no articles, no subcategories) is deleted; else 409."""
        categories.delete(categories.get(category_id))
        db.session.commit()


@blp.route("/kb/images", methods=["POST"])
@blp.response(201, ImageOut)
@require("editor", "operator")
def upload_image():
    """Upload an image (multipart ``file``): PNG, JPEG, GIF or WebP by content, at most
    ``KB_IMAGE_MAX_BYTES`` (default 5 MB; larger → 413).  Answers its URL and Markdown."""
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("Send the image as multipart field 'file'.", fields={"file": ["missing"]})
    image = images.save(upload.stream, upload.filename or "", access.user_id())
    db.session.commit()
    return image
