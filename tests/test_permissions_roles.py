"""Every API endpoint × every role (issue 8 "path/ID guessing → 403/404"), enumerated from
the app's url_map so a new endpoint is covered at once: each must be classified in ROLES
below (CONTRACT §8 "Roles are additive"); a role without the right gets 403, a role with it
never gets 403 or a 5xx for a guessed id.  Plus oversize bodies → 413 for every operation
that takes a body (from the OpenAPI document)."""
from __future__ import annotations

import re

import pytest

from tests.test_permissions_matrix import api_rules, concrete

# (method regex, path regex, roles that may pass); first match wins.  "*" = any logged-in
# user, "public" = no login needed.  Admins pass everything; supervisors pass operator rules.
ROLES = [
    ("POST", r"/auth/(login|logout)$", "public"),
    ("POST", r"/cti/<token>$", "public"),
    ("GET", r"/kb/search$", "public"),
    ("POST", r"/kb/articles/<int:article_id>/votes$", "public"),
    (".*", r"/(auth/csrf|me|jobs/<job_id>)$", "*"),
    (".*", r"/(users|tokens|audit|blocked-numbers)\b", "admin"),
    ("POST", r"/customers/<int:customer_id>/anonymize$", "admin"),
    ("POST|PATCH|DELETE", r"/teams\b", "admin"),
    (".*", r"/(analytics|queues|routing/policy)\b", "supervisor"),
    ("GET", r"/operators$", "supervisor"),
    ("PUT", r"/operators/<int:user_id>/presence$", "supervisor"),
    ("PUT", r"/sla/policies$", "supervisor"),
    ("POST", r"/kb/articles/<int:article_id>/(publish|approve|apply|revisions/<int:rev>/restore)$", "editor"),
    ("DELETE", r"/kb/articles/<int:article_id>$", "editor"),
    ("POST|PATCH|DELETE", r"/kb/categories\b", "editor"),
    ("POST", r"/kb/articles/<int:article_id>/uses$", "operator"),
    (".*", r"/kb/", "editor operator"),
    (".*", r"/(customers|imports|tickets|macros|calls|offers|sla|teams|operators/me)\b", "operator"),
]
USERS = ("operator", "supervisor", "editor", "admin")


def required(method: str, path: str) -> str | None:
    for methods, pattern, roles in ROLES:
        if re.fullmatch(methods, method) and re.search(pattern, path.removeprefix("/api/v1")):
            return roles
    return None


def may_pass(user_role: str, roles: str) -> bool:
    allowed = set(roles.split())
    return (roles in ("*", "public") or user_role == "admin" or user_role in allowed
            or (user_role == "supervisor" and "operator" in allowed))


def test_every_endpoint_is_classified(app):
    unclassified = [f"{method} {rule.rule}" for rule, method in api_rules(app)
                    if rule.rule != "/api/v1/openapi.json" and required(method, rule.rule) is None]
    assert not unclassified, f"add these to ROLES in {__file__}: {unclassified}"


@pytest.mark.parametrize("user_role", USERS)
def test_each_role_gets_exactly_its_endpoints(app, client, login, user_role):
    login(client, roles=user_role)
    checked = 0
    for rule, method in api_rules(app):
        roles = required(method, rule.rule)
        if roles in (None, "public") or rule.rule.endswith(("/auth/logout", "/auth/login")):
            continue
        path = concrete(rule.rule).replace("/1", "/987654")  # a guessed id that names nothing
        response = client.open(path, method=method, json={} if method != "GET" else None)
        answer = (method, rule.rule, response.status_code, response.get_data(as_text=True)[:200])
        assert response.status_code < 500, answer
        if may_pass(user_role, roles):
            assert response.status_code != 403, answer
        else:
            assert response.status_code == 403, answer
            assert response.get_json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked > 70


def test_another_operators_private_macro_is_not_reachable(client, app, login):
    login(client, roles="operator")
    created = client.post("/api/v1/macros", json={"name": "private", "body": "こんにちは", "shared": False})
    assert created.status_code == 201, created.get_json()
    macro_id = created.get_json()["id"]
    other = app.test_client()
    login(other, roles="operator")
    assert other.get(f"/api/v1/macros/{macro_id}").status_code in (403, 404)
    assert other.patch(f"/api/v1/macros/{macro_id}", json={"name": "mine now"},
                       headers={"X-CSRF-Token": other.csrf_token}).status_code in (403, 404)
    assert other.delete(f"/api/v1/macros/{macro_id}",
                        headers={"X-CSRF-Token": other.csrf_token}).status_code in (403, 404)
    assert client.get(f"/api/v1/macros/{macro_id}").get_json()["name"] == "private"


def test_every_body_taking_operation_refuses_an_oversize_body_with_413(app, client, login):
    """The declared length alone is enough: the body is refused before it is read."""
    login(client, roles="admin")
    spec = client.get("/api/v1/openapi.json").get_json()
    limit = app.config["MAX_CONTENT_LENGTH"]
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            media = next(iter(operation["requestBody"]["content"]))
            response = client.open(re.sub(r"\{[^}]+\}", "1", path), method=method.upper(), data=b"{}",
                                   content_type=media, environ_overrides={"CONTENT_LENGTH": str(limit + 1)})
            assert response.status_code == 413, (method, path, response.status_code)
            assert response.get_json()["error"]["code"] == "too_large"
            checked += 1
    assert checked > 30


@pytest.mark.parametrize("path,content_type", [
    ("/api/v1/customers", "application/json"), ("/api/v1/tickets", "application/json"),
    ("/api/v1/kb/articles", "application/json"), ("/api/v1/imports", "multipart/form-data; boundary=x"),
    ("/api/v1/kb/images", "multipart/form-data; boundary=x"),
])
def test_a_real_oversize_body_is_413(app, client, login, path, content_type):
    login(client, roles="admin")
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(path, data=body, content_type=content_type)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
