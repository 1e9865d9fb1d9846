"""Macros (canned responses): named replies or notes with placeholders that can also set
the status, the priority and tags.  Shared macros (no owner) are for everyone and are
managed by supervisors; personal macros belong to their operator."""
from __future__ import annotations

import re

from sqlalchemy import or_, select

from core.db import utcnow
from core.errors import Forbidden, NotFound
from extensions import db
from tickets import service
from tickets.models import Macro, Ticket

# {{customer.name}} / {{customer_name}}, {{ticket.id}}, {{ticket.subject}}, {{operator.name}}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)[._]([a-z_]+)\s*\}\}")


def visible_to(actor):
    """Shared macros and the actor's own."""
    me = service.actor_id(actor)
    return select(Macro).where(or_(Macro.owner_id.is_(None), Macro.owner_id == me)).order_by(Macro.name, Macro.id)


def get(macro_id: int, actor) -> Macro:
    macro = db.session.get(Macro, macro_id)
    if macro is None or (macro.owner_id is not None and macro.owner_id != service.actor_id(actor)):
        raise NotFound("No such macro.")
    return macro


def _may_manage(macro: Macro | None, actor, shared: bool) -> None:
    if shared and not actor.has_role("supervisor"):
        raise Forbidden("Only supervisors manage shared macros; make it personal instead.")
    if macro is not None and macro.owner_id is not None and macro.owner_id != service.actor_id(actor):
        raise NotFound("No such macro.")


def create(data: dict, actor) -> Macro:
    shared = bool(data.pop("shared", False)) or service.actor_id(actor) is None
    _may_manage(None, actor, shared)
    macro = Macro(name=data["name"].strip(), body=data.get("body", ""), kind=data.get("kind", "reply"),
                  set_status=data.get("set_status"), set_priority=data.get("set_priority"),
                  add_tags=service._clean_tags(data.get("add_tags")),
                  owner_id=None if shared else service.actor_id(actor))
    db.session.add(macro)
    db.session.flush()
    return macro


def update(macro: Macro, changes: dict, actor, expected_version: int | None = None) -> Macro:
    from core.errors import Conflict

    _may_manage(macro, actor, macro.owner_id is None or bool(changes.get("shared")))
    if expected_version is not None and expected_version != macro.version:
        raise Conflict(f"The macro changed since you loaded it (now version {macro.version}).",
                       version=macro.version)
    if "shared" in changes:
        macro.owner_id = None if changes.pop("shared") else service.actor_id(actor)
    for key, value in changes.items():
        if key == "add_tags":
            value = service._clean_tags(value)
        setattr(macro, key, value)
    macro.version += 1
    macro.updated_at = utcnow()
    return macro


def delete(macro: Macro, actor) -> None:
    _may_manage(macro, actor, macro.owner_id is None)
    db.session.delete(macro)


def render(text: str, ticket: Ticket, actor) -> str:
    """Fill the placeholders for ``ticket`` (unknown ones are left as written)."""
    from customers.models import Customer

    customer = db.session.get(Customer, ticket.customer_id)
    values = {
        ("customer", "name"): customer.name if customer else "",
        ("ticket", "id"): str(ticket.id),
        ("ticket", "number"): str(ticket.id),
        ("ticket", "subject"): ticket.subject,
        ("operator", "name"): getattr(actor, "display_name", "") or "",
    }

    def _fill(match: re.Match) -> str:
        return values.get((match.group(1), match.group(2)), match.group(0))

    return _PLACEHOLDER.sub(_fill, text or "")


def apply(macro: Macro, ticket: Ticket, actor, *, send: bool, expected_version: int | None = None) -> dict:
    """Render the macro for ``ticket``; with ``send`` post its message and apply its
    status, priority and tags (optimistic like any change to the ticket)."""
    body = render(macro.body, ticket, actor)
    result = {"macro_id": macro.id, "body": body, "kind": macro.kind, "set_status": macro.set_status,
              "set_priority": macro.set_priority, "add_tags": macro.add_tags, "message": None}
    if not send:
        return result
    service.check_version(ticket, expected_version, what="apply the macro")
    changes: dict = {}
    if macro.set_priority:
        changes["priority"] = macro.set_priority
    if macro.add_tags:
        changes["tags"] = list(dict.fromkeys(list(ticket.tags or []) + list(macro.add_tags)))
    if changes:
        service.update(ticket, changes, actor)
    if body.strip():
        result["message"] = service.add_message(ticket, body=body, kind=macro.kind, actor=actor,
                                                status=macro.set_status)
    elif macro.set_status:
        service.update(ticket, {"status": macro.set_status}, actor)
    return result
