"""Ticket pages (list and view), their guards, languages and CSP; the demo seed."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select


@pytest.fixture
def ticket_id(app):
    from customers import service as customers
    from extensions import db
    from tickets import service

    with app.app_context():
        ticket = service.open_ticket(customers.create({"name": "画面 太郎"}), subject="画面の件名", channel="email")
        db.session.commit()
        return ticket.id


@pytest.mark.parametrize("path", ["/tickets", "/tickets/1"])
def test_logged_out_redirects_and_editor_gets_403(client, login, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    login(client, roles="editor")
    assert client.get(path).status_code == 403


def test_list_page_in_japanese_and_english(client, login):
    login(client)
    html = client.get("/tickets?view=unassigned", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "未割り当て" in html and "自分の担当" in html and 'data-view="unassigned"' in html
    assert 'src="/static/js/tickets.js"' in html
    assert re.findall(r"<script(?![^>]*(src=|application/json))", html) == []
    client.patch("/api/v1/me", json={"locale": "en"})
    html = client.get("/tickets?view=bogus").get_data(as_text=True)
    assert "Unassigned" in html and 'data-view="mine"' in html


def test_ticket_page_has_composer_take_button_and_sla(client, login, ticket_id):
    login(client)
    response = client.get(f"/tickets/{ticket_id}", headers={"Accept-Language": "ja"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "画面の件名" in html and "担当する" in html and 'data-testid="composer"' in html
    assert f'data-ticket-id="{ticket_id}"' in html and "css/tickets.css" in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert client.get("/tickets/999999").status_code == 404


def test_static_scripts_exist(client):
    for name in ("tickets.js", "ticket.js", "tickets-common.js"):
        assert client.get(f"/static/js/{name}").status_code == 200
    assert client.get("/static/css/tickets.css").status_code == 200


def test_demo_seed_adds_macros_and_tickets_for_existing_customers(app, make_user):
    from customers import service as customers
    from extensions import db
    from tickets import demo
    from tickets.models import Macro, Ticket

    make_user("demo-op")
    with app.app_context():
        for index in range(12):
            customers.create({"name": f"デモ {index}", "emails": [f"demo{index}@example.jp"]})
        db.session.commit()
        lines = demo.seed(60)
        db.session.commit()
        assert any("macros" in line for line in lines)
        assert db.session.scalar(select(func.count()).select_from(Macro)) == len(demo.MACROS)
        tickets = list(db.session.scalars(select(Ticket)))
        assert len(tickets) == 12
        assert {t.status for t in tickets} >= {"new", "open", "pending", "solved", "closed"}
        assert demo.seed(60) == []  # idempotent
