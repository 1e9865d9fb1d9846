"""SLA due times in business hours with Japanese holidays (fixed dates), targets by rank,
the sweep's warnings and breaches, and the auto-close of solved tickets."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tickets.sla import Calendar

JST = ZoneInfo("Asia/Tokyo")


def jst(*args) -> datetime:
    return datetime(*args, tzinfo=JST)


@pytest.mark.parametrize("start, hours, expected", [
    (jst(2026, 6, 1, 10, 0), 2, jst(2026, 6, 1, 12, 0)),      # Monday, inside hours
    (jst(2026, 6, 5, 17, 0), 2, jst(2026, 6, 8, 10, 0)),      # Friday evening → Monday
    (jst(2026, 6, 6, 12, 0), 1, jst(2026, 6, 8, 10, 0)),      # Saturday → Monday 9:00 + 1h
    (jst(2026, 6, 1, 7, 30), 1, jst(2026, 6, 1, 10, 0)),      # before opening
    (jst(2026, 6, 1, 20, 0), 9, jst(2026, 6, 2, 18, 0)),      # after closing: one full day
    (jst(2026, 5, 1, 17, 30), 1, jst(2026, 5, 7, 9, 30)),     # Golden Week: 2–6 May closed
    (jst(2026, 4, 28, 17, 0), 2, jst(2026, 4, 30, 10, 0)),    # Showa Day (29 Apr, Wed)
    (jst(2026, 9, 18, 17, 0), 2, jst(2026, 9, 24, 10, 0)),    # Silver Week: 21, 22, 23 Sep
    (jst(2026, 12, 31, 17, 0), 2, jst(2027, 1, 4, 10, 0)),    # New Year's Day, weekend
    (jst(2027, 3, 19, 18, 0), 1, jst(2027, 3, 23, 10, 0)),    # substitute holiday 22 Mar 2027
])
def test_business_hours_and_japanese_holidays(start, hours, expected):
    cal = Calendar()
    due = cal.add(start.astimezone(UTC), hours * 3600)
    assert due == expected.astimezone(UTC)
    assert cal.between(start.astimezone(UTC), due) == hours * 3600


def test_custom_closed_dates_and_hours():
    cal = Calendar(hours={"0": [["09:00", "12:00"], ["13:00", "17:00"]], "1": [["09:00", "17:00"]]},
                   closed_dates=frozenset({date(2026, 6, 2)}))
    start = jst(2026, 6, 1, 11, 0).astimezone(UTC)
    # Monday 11–12 (1h), lunch closed, 13–17 (4h); Tuesday closed; Wednesday… not open; next Monday.
    assert cal.add(start, 3 * 3600) == jst(2026, 6, 1, 15, 0).astimezone(UTC)
    assert cal.add(start, 6 * 3600) == jst(2026, 6, 8, 10, 0).astimezone(UTC)
    assert Calendar(hours={}).add(start, 60) == start + timedelta(seconds=60)


def test_platinum_is_tighter_than_bronze_and_policies_override(app, client, login):
    from tickets import sla

    with app.app_context():
        assert sla.target_for("platinum", "normal")[0] < sla.target_for("bronze", "normal")[0]
        assert sla.target_for("platinum", "urgent")[1] < sla.target_for("platinum", "low")[1]
    login(client, roles="supervisor")
    response = client.put("/api/v1/sla/policies", json={"items": [
        {"rank": "gold", "priority": "high", "first_response_minutes": 15, "resolution_minutes": 90}]})
    assert response.status_code == 200
    items = {(i["rank"], i["priority"]): i for i in response.get_json()["items"]}
    assert items[("gold", "high")]["first_response_minutes"] == 15
    with app.app_context():
        assert sla.target_for("gold", "high") == (15, 90)
    operator = app.test_client()
    login(operator)
    assert operator.put("/api/v1/sla/policies", json={"items": []}).status_code == 403
    assert client.put("/api/v1/sla/policies", json={"items": [{"rank": "x", "priority": "high",
                                                               "first_response_minutes": 1,
                                                               "resolution_minutes": 1}]}).status_code == 422
    sla.invalidate()
    assert operator.get("/api/v1/sla/calendar").get_json()["timezone"] == "Asia/Tokyo"


def _ticket(app, **over):
    from customers import service as customers
    from extensions import db
    from tickets import service

    with app.app_context():
        customer = customers.create({"name": "SLA 顧客"})
        ticket = service.open_ticket(customer, subject="s", channel="email")
        for key, value in over.items():
            setattr(ticket, key, value)
        db.session.commit()
        return ticket.id


def test_sweep_warns_before_and_marks_breach_at_due_time_once(app, make_user, monkeypatch):
    from core import realtime
    from extensions import db
    from tickets import jobs
    from tickets.models import Ticket

    pushed = []
    monkeypatch.setattr(realtime, "push_now", lambda event, data, room: pushed.append((event, data, room)))
    user_id, _ = make_user("sla-op")
    now = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    warn_id = _ticket(app, assignee_id=user_id, first_response_due_at=now + timedelta(minutes=10),
                      resolution_due_at=now + timedelta(hours=5))
    breach_id = _ticket(app, first_response_due_at=now - timedelta(minutes=1),
                        resolution_due_at=now + timedelta(hours=5))
    paused_id = _ticket(app, status="pending", first_response_due_at=now - timedelta(hours=1),
                        resolution_due_at=now - timedelta(hours=1))
    with app.app_context():
        assert jobs.check_sla(now) == {"warned": 1, "breached": 1}
        db.session.commit()
        assert jobs.check_sla(now) == {"warned": 0, "breached": 0}  # once each
        db.session.commit()
        warned, breached, paused = (db.session.get(Ticket, i) for i in (warn_id, breach_id, paused_id))
        assert warned.first_response_warned and not warned.first_response_breached
        assert breached.first_response_breached and breached.breached
        assert not paused.breached
        # At the due time the warned ticket breaches.
        assert jobs.check_sla(now + timedelta(minutes=11))["breached"] == 1
        db.session.commit()
    events = [(e, d["ticket_id"], d["breached"], room) for e, d, room in pushed if e == "sla_warning"]
    assert ("sla_warning", warn_id, False, f"user:{user_id}") in events
    assert ("sla_warning", warn_id, False, "supervisors") in events
    assert ("sla_warning", breach_id, True, "supervisors") in events
    assert ("sla_warning", warn_id, True, f"user:{user_id}") in events
    assert all(ticket_id != paused_id for _, ticket_id, _, _ in events)


def test_solved_tickets_auto_close_after_the_configured_time(app, monkeypatch):
    from extensions import db
    from tickets import jobs
    from tickets.models import Ticket

    monkeypatch.setitem(app.config, "TICKETS_AUTOCLOSE_S", 3600)
    now = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    old = _ticket(app, status="solved", solved_at=now - timedelta(hours=2))
    fresh = _ticket(app, status="solved", solved_at=now - timedelta(minutes=5))
    with app.app_context():
        assert jobs.close_solved(now) == [old]
        db.session.commit()
        assert db.session.get(Ticket, old).status == "closed"
        assert db.session.get(Ticket, fresh).status == "solved"


def test_late_first_reply_counts_as_breach(app, client, login):
    from core.db import utcnow

    login(client, roles="supervisor")
    ticket_id = _ticket(app, first_response_due_at=utcnow() - timedelta(minutes=5))
    client.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "遅れて申し訳ありません", "kind": "reply"})
    sla = client.get(f"/api/v1/tickets/{ticket_id}").get_json()["sla"]
    assert sla["first_response_breached"] is True and sla["breached"] is True
