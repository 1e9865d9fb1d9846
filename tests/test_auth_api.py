"""Login, CSRF, bearer tokens, the login throttle, /me (CONTRACT §3 auth, §8)."""
import pytest

from tests.conftest import PASSWORD


def test_login_returns_user_and_csrf_and_me_works(client, make_user):
    make_user("hanako", roles="operator,supervisor", tier=3, skills=["ja", "en"], extension="201", name="山田 花子")
    response = client.post("/api/v1/auth/login", json={"username": "hanako", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["username"] == "hanako"
    assert body["user"]["name"] == "山田 花子"
    assert body["user"]["roles"] == ["operator", "supervisor"]
    assert body["user"]["tier"] == 3 and body["user"]["extension"] == "201"
    assert body["csrf_token"]
    assert "password_hash" not in body["user"]
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["username"] == "hanako"


def test_wrong_password_is_401_with_error_shape(client, make_user):
    make_user("taro")
    response = client.post("/api/v1/auth/login", json={"username": "taro", "password": "nope"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/me").status_code == 401


def test_unknown_user_is_401(client):
    response = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "whatever"})
    assert response.status_code == 401


def test_login_validation_is_422_with_fields(client):
    response = client.post("/api/v1/auth/login", json={"username": "x"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and "password" in error["fields"]


def test_logged_out_gets_401_before_csrf_or_validation(client):
    response = client.patch("/api/v1/me", json={"locale": "xx"})
    assert response.status_code == 401
    response = client.put("/api/v1/operators/me/presence", json={})
    assert response.status_code == 401


def test_cookie_requests_need_csrf_token(client, login):
    login(client)
    token, client.csrf_token = client.csrf_token, None
    response = client.put("/api/v1/operators/me/presence", json={"presence": "available"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    response = client.put("/api/v1/operators/me/presence", json={"presence": "available"},
                          headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert response.get_json()["presence"] == "available"


def test_bearer_token_acts_as_admin_without_csrf(app, client):
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token("integration", "api")
        _, cti = create_token("pbx", "cti")
        db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    created = client.post("/api/v1/users", headers=headers,
                          json={"username": "new1", "password": "longenough", "roles": ["operator"]})
    assert created.status_code == 201
    # A CTI token is not an API token; a garbage token is nobody.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {cti}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_tokens_are_stored_hashed(app):
    from sqlalchemy import select

    from accounts.models import ApiToken
    from accounts.service import create_token, verify_token
    from extensions import db

    with app.app_context():
        token, raw = create_token("x", "api")
        db.session.commit()
        stored = db.session.scalar(select(ApiToken))
        assert raw not in (stored.token_hash, stored.prefix + "x")
        assert len(stored.token_hash) == 64 and stored.token_hash != raw
        assert verify_token(raw, "api").id == token.id
        assert verify_token(raw, "cti") is None


def test_passwords_are_hashed(app, make_user):
    from accounts.service import find_user

    make_user("kana", password="s3cret-password")
    with app.app_context():
        user = find_user("KANA")
        assert user.password_hash != "s3cret-password"
        assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_eleventh_failure_in_a_minute_is_429_and_successes_do_not_count(client, make_user):
    make_user("target")
    for _ in range(12):  # successes never count
        assert client.post("/api/v1/auth/login", json={"username": "target", "password": PASSWORD}).status_code == 200
    for attempt in range(10):
        response = client.post("/api/v1/auth/login", json={"username": "target", "password": "bad"})
        assert response.status_code == 401, attempt
    response = client.post("/api/v1/auth/login", json={"username": "target", "password": PASSWORD})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"


def test_throttle_is_per_client_address_too(client, make_user):
    make_user("someone")
    for index in range(10):
        response = client.post("/api/v1/auth/login", json={"username": f"guess{index}", "password": "bad"})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/login", json={"username": "someone", "password": PASSWORD})
    assert response.status_code == 429
    other = client.post("/api/v1/auth/login", json={"username": "someone", "password": PASSWORD},
                        environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def test_login_page_throttle_shares_the_username_counter(client, make_user):
    make_user("pagey")
    page = client.get("/login")
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    for _ in range(10):
        response = client.post("/login", data={"username": "pagey", "password": "bad", "csrf_token": token})
        assert response.status_code == 401
    response = client.post("/api/v1/auth/login", json={"username": "pagey", "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert response.status_code == 429


def test_me_locale_update(client, login):
    login(client)
    response = client.patch("/api/v1/me", json={"locale": "en"})
    assert response.status_code == 200 and response.get_json()["locale"] == "en"
    assert client.patch("/api/v1/me", json={"locale": "fr"}).status_code == 422


def test_logout_ends_the_session(client, login):
    login(client)
    assert client.post("/api/v1/auth/logout").status_code == 200
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("roles,status", [("operator", 403), ("supervisor", 403), ("editor", 403), ("admin", 200)])
def test_user_admin_needs_admin(client, login, roles, status):
    login(client, roles=roles)
    assert client.get("/api/v1/users").status_code == status
