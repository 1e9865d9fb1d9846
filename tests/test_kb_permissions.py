"""Every knowledge-base endpoint × role (CONTRACT §8): editors write and publish,
operators read and propose drafts, the public searches public articles only, and
logged-out requests get 401 before validation."""
import pytest

from tests.test_kb_search import Editor

ALLOWED = [
    # (method, path template, body, roles allowed) — others: 403; logged out: 401
    ("GET", "/api/v1/kb/articles", None, {"editor", "operator", "supervisor", "admin"}),
    ("POST", "/api/v1/kb/articles", {"title": "提案"}, {"editor", "operator", "supervisor", "admin"}),
    ("GET", "/api/v1/kb/articles/{id}", None, {"editor", "operator", "supervisor", "admin"}),
    ("POST", "/api/v1/kb/articles/{id}/publish", {}, {"editor", "admin"}),
    ("POST", "/api/v1/kb/articles/{id}/approve", {}, {"editor", "admin"}),
    ("GET", "/api/v1/kb/articles/{id}/revisions", None, {"editor", "operator", "supervisor", "admin"}),
    ("GET", "/api/v1/kb/articles/{id}/revisions/1", None, {"editor", "operator", "supervisor", "admin"}),
    ("POST", "/api/v1/kb/articles/{id}/revisions/1/restore", {}, {"editor", "admin"}),
    ("GET", "/api/v1/kb/articles/{id}/diff?from=1&to=1", None, {"editor", "operator", "supervisor", "admin"}),
    ("POST", "/api/v1/kb/articles/{id}/uses", {"ticket_id": 7}, {"operator", "supervisor", "admin"}),
    ("GET", "/api/v1/kb/suggestions?subject=x", None, {"editor", "operator", "supervisor", "admin"}),
    ("POST", "/api/v1/kb/preview", {"body": "x"}, {"editor", "operator", "supervisor", "admin"}),
    ("GET", "/api/v1/kb/categories", None, {"editor", "operator", "supervisor", "admin"}),
    ("POST", "/api/v1/kb/categories", {"name_ja": "新"}, {"editor", "admin"}),
    ("PATCH", "/api/v1/kb/articles/{id}", {"body": "変更"}, {"editor", "admin"}),
    ("DELETE", "/api/v1/kb/articles/{id}", None, {"editor", "admin"}),
]
PUBLIC = [("GET", "/api/v1/kb/search?q=返品", None), ("POST", "/api/v1/kb/articles/{id}/votes", {"helpful": True})]
ROLES = ("operator", "supervisor", "editor", "admin")


@pytest.fixture
def published(app):
    from extensions import db
    from knowledge.service import create_article, publish

    with app.app_context():
        article = create_article({"title": "返品について", "body": "返品は8日以内", "visibility": "public"}, Editor())
        publish(article, Editor())
        db.session.commit()
        return article.id


def _call(client, method, path, body):
    return client.open(path, method=method, json=body) if body is not None else client.open(path, method=method)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, login, published, role):
    login(client, roles=role)
    for method, template, body, roles in ALLOWED:
        response = _call(client, method, template.format(id=published), body)
        expected_ok = role in roles
        assert (response.status_code < 400) == expected_ok, (role, method, template, response.status_code,
                                                             response.get_json())
        if not expected_ok:
            assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("method, template, body", [row[:3] for row in ALLOWED])
def test_logged_out_is_401_before_validation(client, published, method, template, body):
    response = _call(client, method, template.format(id=published), {"nonsense": True} if body is not None else None)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("method, template, body", PUBLIC)
def test_public_endpoints_need_no_login(client, published, method, template, body):
    assert _call(client, method, template.format(id=published), body).status_code == 200


def test_operators_cannot_read_others_drafts_or_internal_is_hidden_from_public(client, login, app):
    from extensions import db
    from knowledge.service import create_article, publish

    with app.app_context():
        draft = create_article({"title": "編集中", "body": "x"}, Editor())
        internal = create_article({"title": "社内", "body": "x", "visibility": "internal"}, Editor())
        publish(internal, Editor())
        db.session.commit()
        draft_id, internal_id = draft.id, internal.id
    assert client.post(f"/api/v1/kb/articles/{internal_id}/votes", json={"helpful": True}).status_code == 404
    login(client, roles="operator")
    assert client.get(f"/api/v1/kb/articles/{draft_id}").status_code == 404
    assert client.get(f"/api/v1/kb/articles/{internal_id}").status_code == 200
    assert draft_id not in [a["id"] for a in client.get("/api/v1/kb/articles").get_json()["items"]]
    own = client.post("/api/v1/kb/articles", json={"title": "自分の提案"}).get_json()
    assert own["status"] == "draft"
    assert own["id"] in [a["id"] for a in client.get("/api/v1/kb/articles").get_json()["items"]]


def test_editor_has_no_customer_or_console_access(client, login):
    login(client, roles="editor")
    assert client.get("/console").status_code == 403
    assert client.get("/kb").status_code == 200


def test_bearer_token_acts_as_admin(client, app):
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _token, raw = create_token("kb-bot", "api")
        db.session.commit()
    response = client.post("/api/v1/kb/articles", json={"title": "API から"}, headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 201
    published = client.post(f"/api/v1/kb/articles/{response.get_json()['id']}/publish", json={},
                            headers={"Authorization": f"Bearer {raw}"})
    assert published.status_code == 200
