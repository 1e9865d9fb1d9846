"""Teams: the API (admins write, operators read, editors never), optimistic locking, the
audit log, users' ``team_ids``, and the ticket list's ``team=mine|ID`` filter."""
from __future__ import annotations

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def assigned_tickets(app):
    """``assigned_tickets({user_id or None: [status, …]})`` commits tickets with those
    assignees and statuses; returns ``{user_id: [ticket ids]}``."""
    from customers import service as customers
    from extensions import db
    from tickets import service

    def _make(plan: dict) -> dict:
        with app.app_context():
            customer = customers.create({"name": "チーム 花子"})
            made: dict = {}
            for assignee, statuses in plan.items():
                for status in statuses:
                    ticket = service.open_ticket(customer, subject=f"件名 {assignee} {status}", channel="web")
                    ticket.assignee_id = assignee
                    ticket.status = status
                    made.setdefault(assignee, []).append(ticket.id)
            db.session.commit()
            return made

    return _make


def _team(client, name="請求チーム", **over):
    response = client.post("/api/v1/teams", json={"name": name, **over})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_admin_creates_renames_sets_members_and_deletes(client, login, make_user, app):
    admin_id, _ = login(client, roles="admin")
    alice, _ = make_user("alice", name="佐藤 アリス")
    bob, _ = make_user("bob")
    team = _team(client, description=" 請求と返金 ", member_ids=[bob, alice, alice])
    assert team["name"] == "請求チーム" and team["description"] == "請求と返金" and team["version"] == 1
    assert team["member_ids"] == sorted([alice, bob])
    assert {"id": alice, "username": "alice", "name": "佐藤 アリス"} in team["members"]

    response = client.patch(f"/api/v1/teams/{team['id']}",
                            json={"name": "Billing", "member_ids": [alice], "version": 1})
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'
    assert response.get_json()["name"] == "Billing" and response.get_json()["member_ids"] == [alice]
    listed = client.get("/api/v1/teams").get_json()
    assert listed["next_cursor"] is None and [t["name"] for t in listed["items"]] == ["Billing"]
    assert client.get(f"/api/v1/teams/{team['id']}").headers["ETag"] == '"2"'
    users = {u["id"]: u for u in client.get("/api/v1/users?limit=200").get_json()["items"]}
    assert users[alice]["team_ids"] == [team["id"]] and users[bob]["team_ids"] == []
    assert client.get(f"/api/v1/users/{alice}").get_json()["team_ids"] == [team["id"]]

    assert client.delete(f"/api/v1/teams/{team['id']}").status_code == 204
    assert client.get(f"/api/v1/teams/{team['id']}").status_code == 404
    assert client.delete(f"/api/v1/teams/{team['id']}").status_code == 404
    assert client.get(f"/api/v1/users/{alice}").get_json()["team_ids"] == []  # the user stays

    from sqlalchemy import select

    from core.audit import AuditEntry
    from extensions import db

    with app.app_context():
        actions = [(e.action, e.actor_id, e.detail["team_id"])
                   for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [("team.create", admin_id, team["id"]), ("team.update", admin_id, team["id"]),
                       ("team.delete", admin_id, team["id"])]


def test_stale_version_is_409_by_body_or_if_match(client, login):
    login(client, roles="admin")
    team = _team(client)
    url = f"/api/v1/teams/{team['id']}"
    assert client.patch(url, json={"description": "一", "version": 1}).status_code == 200
    stale = client.patch(url, json={"description": "二", "version": 1})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "conflict" and stale.get_json()["error"]["version"] == 2
    assert client.patch(url, json={"description": "二"}, headers={"If-Match": '"1"'}).status_code == 409
    assert client.patch(url, json={"description": "二"}, headers={"If-Match": "2"}).status_code == 200
    assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 409
    assert client.get(url).get_json()["description"] == "二"


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 81}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "ok", "member_ids": "1"}, "member_ids"),
    ({"name": "ok", "member_ids": [0]}, "member_ids"),
    ({"name": "ok", "member_ids": [999999]}, "member_ids"),
    ({"name": "ok", "description": "x" * 501}, "description"),
])
def test_bad_input_is_422_in_the_contract_shape(client, login, body, field):
    login(client, roles="admin")
    response = client.post("/api/v1/teams", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]


def test_names_are_unique_ignoring_case_and_unknown_ids_are_404(client, login):
    login(client, roles="admin")
    first = _team(client, "Billing")
    other = _team(client, "Shipping")
    assert client.post("/api/v1/teams", json={"name": " billing "}).status_code == 409
    renamed = client.patch(f"/api/v1/teams/{other['id']}", json={"name": "BILLING"})
    assert renamed.status_code == 409 and renamed.get_json()["error"]["code"] == "conflict"
    # Renaming a team to its own name in another case is fine.
    assert client.patch(f"/api/v1/teams/{first['id']}", json={"name": "BILLING"}).status_code == 200
    assert client.patch("/api/v1/teams/999999", json={"name": "x"}).status_code == 404
    assert client.patch(f"/api/v1/teams/{other['id']}", json={"member_ids": [999999]}).status_code == 422
    assert client.get("/api/v1/teams?limit=0").status_code == 422
    assert client.get("/api/v1/teams?cursor=bogus").status_code == 422


@pytest.mark.parametrize("roles", ["operator", "supervisor"])
def test_operators_and_supervisors_read_but_only_admins_write(client, login, make_user, app, roles):
    from accounts import teams
    from extensions import db

    with app.app_context():
        team_id = teams.create("Billing").id
        db.session.commit()
    login(client, roles=roles)
    assert client.get("/api/v1/teams").get_json()["items"][0]["id"] == team_id
    assert client.get(f"/api/v1/teams/{team_id}").status_code == 200
    for method, path in (("POST", "/api/v1/teams"), ("PATCH", f"/api/v1/teams/{team_id}"),
                         ("DELETE", f"/api/v1/teams/{team_id}")):
        response = client.open(path, method=method, json={"name": "奪取"})
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/teams/{team_id}").get_json()["name"] == "Billing"


@pytest.mark.parametrize("method, path", [("GET", "/api/v1/teams"), ("GET", "/api/v1/teams/1"),
                                          ("POST", "/api/v1/teams"), ("DELETE", "/api/v1/teams/1")])
def test_editors_get_403_and_logged_out_401(client, login, method, path):
    assert client.open(path, method=method, json={}).status_code == 401
    login(client, roles="editor")
    assert client.open(path, method=method, json={}).status_code == 403


def test_ticket_list_filters_by_my_teams_and_by_team(client, login, make_user, assigned_tickets, app):
    from accounts import teams
    from extensions import db

    me, _ = login(client)
    mate, _ = make_user("mate")
    second_mate, _ = make_user("second-mate")
    stranger, _ = make_user("stranger")
    with app.app_context():
        billing = teams.create("Billing", member_ids=[me, mate]).id
        shipping = teams.create("Shipping", member_ids=[me, second_mate]).id
        other = teams.create("Other", member_ids=[stranger]).id
        db.session.commit()
    made = assigned_tickets({me: ["open"], mate: ["open", "pending", "closed"], second_mate: ["new"],
                             stranger: ["open"], None: ["new"]})

    def ids(query):
        response = client.get("/api/v1/tickets?" + query)
        assert response.status_code == 200, response.get_json()
        return [t["id"] for t in response.get_json()["items"]]

    mine = made[me] + made[mate] + made[second_mate]
    assert ids("team=mine") == sorted(mine, reverse=True)
    assert ids("team=mine&status=open") == sorted([made[me][0], made[mate][0]], reverse=True)
    assert ids("team=mine&status=new,pending") == sorted([made[mate][1], made[second_mate][0]], reverse=True)
    assert ids(f"team={billing}") == sorted(made[me] + made[mate], reverse=True)
    assert ids(f"team={shipping}&status=new") == made[second_mate]
    assert ids(f"team={other}") == made[stranger]
    assert ids(f"team={billing}&assignee={mate}&status=closed") == [made[mate][2]]
    assert ids("team=999999") == []
    # Keyset pages walk the same set without gaps or repeats.
    first = client.get("/api/v1/tickets?team=mine&limit=2").get_json()
    second = client.get(f"/api/v1/tickets?team=mine&limit=2&cursor={first['next_cursor']}").get_json()
    third = client.get(f"/api/v1/tickets?team=mine&limit=2&cursor={second['next_cursor']}").get_json()
    assert [t["id"] for t in first["items"] + second["items"] + third["items"]] == sorted(mine, reverse=True)
    assert third["next_cursor"] is None
    assert client.get("/api/v1/tickets?team=everyone").status_code == 422
    assert client.get("/api/v1/tickets?team=12345678901").status_code == 422


def test_team_mine_is_empty_for_someone_in_no_team_and_refused_for_a_token(client, login, assigned_tickets, app):
    from accounts.service import create_token
    from extensions import db

    me, _ = login(client)
    assigned_tickets({me: ["open"]})
    assert client.get("/api/v1/tickets?team=mine").get_json()["items"] == []
    with app.app_context():
        _, raw = create_token("integration", "api")
        db.session.commit()
    bearer = app.test_client()
    response = bearer.get("/api/v1/tickets?team=mine", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 422 and "team" in response.get_json()["error"]["fields"]



def test_list_page_has_the_team_tab_and_explains_an_empty_team_view(client, login, app):
    from accounts import teams
    from extensions import db

    me, _ = login(client)
    html = client.get("/tickets?view=team", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'data-view="team"' in html and "チームの担当" in html and 'data-testid="teamless"' in html
    with app.app_context():
        teams.create("Billing", member_ids=[me])
        db.session.commit()
    html = client.get("/tickets?view=team", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'data-view="team"' in html and 'data-testid="teamless"' not in html
    assert 'data-testid="teamless"' not in client.get("/tickets?view=mine").get_data(as_text=True)


def test_admin_page_has_the_teams_section_for_admins_only(client, login, make_user):
    login(client, roles="admin")
    html = client.get("/admin", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'id="teams-section"' in html and "チームを作成" in html
    supervisor = client.application.test_client()
    _, username = make_user(roles="supervisor")
    supervisor.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert 'id="teams-section"' not in supervisor.get("/admin").get_data(as_text=True)


def test_demo_teams_are_seeded_once_with_the_demo_operators(app):
    from sqlalchemy import select

    from accounts import demo as teams_demo
    from accounts.models import Team
    from console import demo
    from extensions import db

    with app.app_context():
        demo.seed_users()
        lines = teams_demo.seed()
        db.session.commit()
        assert len(lines) == len(teams_demo.DEMO_TEAMS)
        assert teams_demo.seed() == []
        found = {t.name: sorted(u.username for u in t.members) for t in db.session.scalars(select(Team))}
    assert found == {name: sorted(usernames) for name, _, usernames in teams_demo.DEMO_TEAMS}


def test_a_name_taken_by_a_concurrent_request_is_409_and_the_transaction_lives_on(app, monkeypatch):
    """The unique index is the last word when two admins create the same name at once."""
    from sqlalchemy import select

    from accounts import teams
    from accounts.models import Team
    from core.errors import Conflict
    from extensions import db

    with app.app_context():
        teams.create("Billing")
        db.session.commit()
        monkeypatch.setattr(teams, "_refuse_taken", lambda name: None)  # as if checked before the other commit
        with pytest.raises(Conflict):
            teams.create("Billing")
        teams.create("Shipping")  # the savepoint was rolled back, not the transaction
        db.session.commit()
        assert sorted(db.session.scalars(select(Team.name))) == ["Billing", "Shipping"]
