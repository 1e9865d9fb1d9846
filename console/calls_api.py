"""The CTI webhook ``POST /api/v1/cti/{token}`` and the caller log ``/api/v1/calls``."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from accounts.permissions import public, require
from accounts.service import touch_token, verify_token
from console import cti
from console.models import Call
from core.errors import Conflict, NotFound, Unauthorized
from core.pagination import by_id_desc, envelope
from extensions import db

blp = Blueprint("calls_api", __name__, url_prefix="/api/v1", description="CTI webhook and caller log")


def _event_data() -> dict:
    """Form-encoded or JSON; repeated form keys (``user[]``) become lists."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            from core.errors import ApiError

            raise ApiError("The body must be a JSON object or a form.", status=400)
        return data
    data: dict = {}
    for key in request.form.keys():
        values = request.form.getlist(key)
        data[key] = values if len(values) > 1 or key.endswith("[]") else values[0]
    for key in request.args.keys():
        data.setdefault(key, request.args.get(key))
    return data


@blp.route("/cti/<token>", methods=["POST"])
@public
def cti_webhook(token):
    """PBX events: newCall, answer, hangup (Zammad generic CTI compatible)."""
    from sqlalchemy.exc import IntegrityError

    found = verify_token(token, "cti")
    if found is None:
        raise Unauthorized("Unknown CTI token.")
    data = _event_data()
    for _attempt in range(3):
        touch_token(found)
        try:
            answer = cti.handle(data)
            db.session.commit()
            return answer, 200
        except IntegrityError:
            # The same event arrived twice at once (PBX retry): the other one won the
            # unique key; handling it again takes the idempotent "already seen" path.
            db.session.rollback()
            found = verify_token(token, "cti")
    raise Conflict("The call changed concurrently; send the event again.")


class CallsArgs(Schema):
    missed = fields.Boolean(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(load_default=None)


class CallPatch(Schema):
    done = fields.Boolean(required=True)


def call_dict(call: Call) -> dict:
    return {"id": call.id, "call_id": call.call_id, "direction": call.direction, "from": call.from_number,
            "to": call.to_number, "caller": call.caller, "customer_id": call.customer_id, "ticket_id": call.ticket_id,
            "operator_id": call.operator_id, "state": call.state, "cause": call.cause, "queue": call.queue,
            "initialized_at": call.initialized_at.isoformat(),
            "start_at": call.start_at.isoformat() if call.start_at else None,
            "end_at": call.end_at.isoformat() if call.end_at else None,
            "waiting_s": cti.waiting_s(call), "talking_s": cti.talking_s(call), "missed": call.missed,
            "done": call.done, "blocked": call.blocked, "voicemail": call.voicemail}


@blp.route("/calls", methods=["GET"])
@require("operator")
@blp.arguments(CallsArgs, location="query")
@blp.response(200)
def list_calls(args):
    """Calls newest first; ``missed=true`` for the missed ones (callbacks)."""
    statement = select(Call)
    if args["missed"] is not None:
        statement = statement.where(Call.missed.is_(args["missed"]))
    rows, cursor = by_id_desc(statement, Call, args["limit"], args["cursor"])
    open_missed = db.session.scalar(select(db.func.count()).select_from(Call)
                                    .where(Call.missed.is_(True), Call.done.is_(False))) or 0
    return envelope([call_dict(c) for c in rows], cursor, missed_open=open_missed)


@blp.route("/calls/<int:call_pk>", methods=["PATCH"])
@require("operator")
@blp.arguments(CallPatch)
@blp.response(200)
def patch_call(body, call_pk):
    """Mark a missed call handled (or not)."""
    from flask_login import current_user

    call = db.session.get(Call, call_pk)
    if call is None:
        raise NotFound("No such call.")
    call.done = body["done"]
    call.done_by = current_user.user_id if body["done"] else None
    call.version += 1
    db.session.commit()
    return call_dict(call)


class BlockedIn(Schema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=40))
    note = fields.String(load_default="", validate=validate.Length(max=200))


def _blocked_dict(row) -> dict:
    from customers.identity import display_phone

    return {"id": row.id, "number": row.number, "display": display_phone(row.number), "note": row.note,
            "created_at": row.created_at.isoformat()}


@blp.route("/blocked-numbers", methods=["GET"])
@require("admin")
@blp.response(200)
def list_blocked():
    from console.models import BlockedNumber

    rows = db.session.scalars(select(BlockedNumber).order_by(BlockedNumber.id.desc())).all()
    return envelope([_blocked_dict(r) for r in rows], None)


@blp.route("/blocked-numbers", methods=["POST"])
@require("admin")
@blp.arguments(BlockedIn)
@blp.response(201)
def add_blocked(body):
    """Block a number (any format; stored in E.164)."""
    from flask_login import current_user

    from console.models import BlockedNumber
    from core.errors import Conflict
    from customers.identity import normalize_phone

    number = normalize_phone(body["number"], field="number")
    if db.session.scalar(select(BlockedNumber).where(BlockedNumber.number == number)):
        raise Conflict(f"{number} is already blocked.")
    row = BlockedNumber(number=number, note=body["note"], created_by=current_user.user_id)
    db.session.add(row)
    db.session.commit()
    return _blocked_dict(row)


@blp.route("/blocked-numbers/<int:row_id>", methods=["DELETE"])
@require("admin")
@blp.response(204)
def remove_blocked(row_id):
    from console.models import BlockedNumber

    row = db.session.get(BlockedNumber, row_id)
    if row is None:
        raise NotFound("No such blocked number.")
    db.session.delete(row)
    db.session.commit()
