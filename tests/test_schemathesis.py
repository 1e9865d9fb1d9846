"""schemathesis over /api/v1/openapi.json, every operation, as an admin (bearer token) and
as an operator (session cookie + CSRF token): valid and invalid requests never get a 5xx,
and every answer matches the schema the document declares for its status (CONTRACT §3).
A few examples per operation here; ``bench/fuzz_api.py`` runs many against gunicorn."""
from __future__ import annotations

import schemathesis

from tests.api_fuzzing import SESSION_ENDERS, fuzz
from tests.conftest import PASSWORD

EXAMPLES = 4  # per operation and per mode (valid, invalid)


def _schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def _token(app, name: str) -> str:
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token(name, "api")
        db.session.commit()
    return raw


def _seed(app, bearer: dict) -> None:
    """One row of each main kind, so that small path ids reach real resources."""
    client = app.test_client()
    customer = client.post("/api/v1/customers", headers=bearer, json={
        "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "emails": ["taro@example.test"], "phones": ["03-1234-5678"]})
    assert customer.status_code == 201, customer.get_json()
    ticket = client.post("/api/v1/tickets", headers=bearer, json={
        "subject": "荷物が届かない", "body": "まだ届きません", "channel": "email", "customer_id": customer.get_json()["id"]})
    assert ticket.status_code == 201, ticket.get_json()
    article = client.post("/api/v1/kb/articles", headers=bearer,
                          json={"title": "返品の手順", "body": "# 返品\n\n手順です。", "locale": "ja"})
    assert article.status_code == 201, article.get_json()
    published = client.post(f"/api/v1/kb/articles/{article.get_json()['id']}/publish", headers=bearer, json={})
    assert published.status_code == 200, published.get_json()


def _assert_clean(report) -> None:
    assert report.operations >= 80, report.operations  # every operation of the document was tried
    assert report.examples >= report.operations * EXAMPLES
    assert not report.failures, "\n\n".join(report.failures)


def test_api_as_admin_token(app):
    bearer = {"Authorization": f"Bearer {_token(app, 'fuzz')}"}
    _seed(app, bearer)
    _assert_clean(fuzz(_schema(app), max_examples=EXAMPLES, headers=bearer))


def test_api_as_operator_session(app, make_user):
    _seed(app, {"Authorization": f"Bearer {_token(app, 'seed')}"})
    _, username = make_user(roles="operator", tier=2, skills=["ja"])
    client = app.test_client()
    answer = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    report = fuzz(_schema(app), max_examples=EXAMPLES, headers={"X-CSRF-Token": answer.get_json()["csrf_token"]},
                  cookies={cookie.key: cookie.value}, skip=SESSION_ENDERS)
    _assert_clean(report)
    assert client.get("/api/v1/me").status_code == 200  # the run was made logged in throughout
