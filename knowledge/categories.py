"""The category tree."""
from __future__ import annotations

from sqlalchemy import func, select

from core.errors import Conflict, Invalid, NotFound
from extensions import db
from knowledge.models import KbArticle, KbCategory


def all_categories() -> list[KbCategory]:
    return list(db.session.scalars(select(KbCategory).order_by(KbCategory.position, KbCategory.id)))


def get(category_id: int) -> KbCategory:
    category = db.session.get(KbCategory, category_id)
    if category is None:
        raise NotFound("No such category.")
    return category


def path(category: KbCategory | None, locale: str) -> str | None:
    """"Parent / Child" in the given language."""
    if category is None:
        return None
    names, seen = [], set()
    while category is not None and category.id not in seen:
        seen.add(category.id)
        names.append(category.name_for(locale))
        category = db.session.get(KbCategory, category.parent_id) if category.parent_id else None
    return " / ".join(reversed(names))


def resolve(value, *, create: bool) -> int | None:
    """A category given as an id, or as a name or "Parent/Child" path (created on the way
    when ``create``); None clears it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Invalid("Not a category.", fields={"category": ["an id or a name"]})
    if isinstance(value, int):
        if db.session.get(KbCategory, value) is None:
            _missing()
        return value
    if not isinstance(value, str):
        raise Invalid("Not a category.", fields={"category": ["an id or a name"]})
    parent_id = None
    parts = [p.strip() for p in value.split("/") if p.strip()]
    if not parts or any(len(p) > 120 for p in parts):
        raise Invalid("Not a category.", fields={"category": ["1 to 120 characters per level"]})
    for name in parts:
        found = db.session.scalar(select(KbCategory).where(
            KbCategory.parent_id.is_(None) if parent_id is None else KbCategory.parent_id == parent_id,
            (KbCategory.name_ja == name) | (KbCategory.name_en == name)).order_by(KbCategory.id).limit(1))
        if found is None:
            if not create:
                _missing()
            found = KbCategory(name_ja=name, name_en=name, parent_id=parent_id, position=0, version=1)
            db.session.add(found)
            db.session.flush()
        parent_id = found.id
    return parent_id


def _missing():
    raise Invalid("No such category.", fields={"category": ["not found"]})


def create(values: dict) -> KbCategory:
    if values.get("parent_id") is not None:
        get(values["parent_id"])
    category = KbCategory(name_ja=values["name_ja"], name_en=values.get("name_en") or "",
                          parent_id=values.get("parent_id"), position=values.get("position", 0), version=1)
    db.session.add(category)
    db.session.flush()
    return category


def update(category: KbCategory, values: dict, expected_version: int | None) -> KbCategory:
    if expected_version is not None and expected_version != category.version:
        raise Conflict("Someone changed this category since you opened it.", current_version=category.version)
    if "parent_id" in values and values["parent_id"] is not None:
        ancestor = get(values["parent_id"])
        while ancestor is not None:
            if ancestor.id == category.id:
                raise Invalid("A category cannot sit inside itself.", fields={"parent_id": ["would make a cycle"]})
            ancestor = db.session.get(KbCategory, ancestor.parent_id) if ancestor.parent_id else None
    for key in ("name_ja", "name_en", "parent_id", "position"):
        if key in values:
            setattr(category, key, values[key] if key != "name_en" else (values[key] or ""))
    category.version += 1
    db.session.flush()
    return category


def delete(category: KbCategory) -> None:
    in_use = db.session.scalar(select(func.count()).select_from(KbArticle).where(KbArticle.category_id == category.id))
    children = db.session.scalar(select(func.count()).select_from(KbCategory)
                                 .where(KbCategory.parent_id == category.id))
    if in_use or children:
        raise Conflict("Move its articles and subcategories elsewhere first.", articles=in_use, children=children)
    db.session.delete(category)
    db.session.flush()
