"""Read side of tickets: the filtered list statement and the people on a page."""
from __future__ import annotations

from sqlalchemy import or_, select

from accounts import teams
from core.errors import Invalid
from customers.models import Customer
from extensions import db
from tickets.models import Ticket
from tickets.service import actor_id


def list_statement(args: dict, actor):
    """The filtered SELECT for ``GET /tickets`` (keyset paged by the caller)."""
    statement = select(Ticket)
    statuses = [s for s in (args.get("status") or "").split(",") if s]
    if len(statuses) == 1:
        statement = statement.where(Ticket.status == statuses[0])
    elif statuses:
        statement = statement.where(Ticket.status.in_(statuses))
    assignee = args.get("assignee")
    if assignee == "me":
        me = actor_id(actor)
        if me is None:
            raise Invalid("assignee=me needs a logged-in user.", fields={"assignee": ["not a user"]})
        statement = statement.where(Ticket.assignee_id == me)
    elif assignee == "none":
        statement = statement.where(Ticket.assignee_id.is_(None))
    elif assignee:
        statement = statement.where(Ticket.assignee_id == int(assignee))
    team = args.get("team")
    if team:
        statement = statement.where(Ticket.assignee_id.in_(_team_members(team, actor)))
    for key in ("rank", "channel", "priority", "customer_id"):
        if args.get(key):
            statement = statement.where(getattr(Ticket, key) == args[key])
    query = (args.get("q") or "").strip()
    if query:
        digits = query.lstrip("#")
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        names = select(Customer.id).where(Customer.name.ilike(pattern, escape="\\"))
        conditions = [Ticket.subject.ilike(pattern, escape="\\"), Ticket.customer_id.in_(names)]
        if digits.isdigit() and len(digits) < 10:
            conditions.append(Ticket.id == int(digits))
        statement = statement.where(or_(*conditions))
    return statement


def _team_members(team: str, actor) -> list[int]:
    """The user ids of ``team=mine`` (everyone in my teams) or ``team=<id>``, read first so
    the list itself is ``assignee_id IN (…)`` over the assignee/status index."""
    if team == "mine":
        me = actor_id(actor)
        if me is None:
            raise Invalid("team=mine needs a logged-in user.", fields={"team": ["not a user"]})
        return teams.teammate_ids(me)
    return teams.member_ids(int(team))


def people(tickets: list[Ticket]) -> tuple[dict[int, Customer], dict[int, str]]:
    """Customers and assignee names of a page of tickets, in two queries."""
    from accounts.models import User

    customer_ids = {t.customer_id for t in tickets}
    user_ids = {t.assignee_id for t in tickets if t.assignee_id}
    found = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))} \
        if customer_ids else {}
    names = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))} \
        if user_ids else {}
    return found, names
