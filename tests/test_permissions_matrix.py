"""Every API endpoint × role: logged out → 401 (but the public ones); editors never reach
customer data, tickets, calls, routing or analytics (CONTRACT §8 roles)."""
import re

import pytest

PUBLIC = {"/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/cti/<token>", "/api/v1/kb/search",
          "/api/v1/openapi.json"}
# Editors have the knowledge base only (and their own account).
EDITOR_ALLOWED_PREFIXES = ("/api/v1/kb", "/api/v1/me", "/api/v1/auth", "/api/v1/jobs", "/api/v1/help")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def api_rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def concrete(path: str) -> str:
    return re.sub(r"<(?:int:)?[^>]+>", "1", path)


def call(client, method, path):
    return client.open(concrete(path), method=method, json={} if method in UNSAFE else None)


def test_logged_out_requests_get_401_everywhere_but_public(app, client):
    checked = 0
    for rule, method in api_rules(app):
        if rule.rule in PUBLIC or getattr(app.view_functions[rule.endpoint], "tsunagu_public", False):
            continue
        response = call(client, method, rule.rule)
        assert response.status_code == 401, (method, rule.rule, response.status_code)
        assert response.get_json()["error"]["code"] == "unauthorized"
        checked += 1
    assert checked > 30


def test_editors_are_refused_everything_but_the_knowledge_base(app, client, login):
    login(client, roles="editor")
    checked = 0
    for rule, method in api_rules(app):
        if rule.rule in PUBLIC or rule.rule.startswith(EDITOR_ALLOWED_PREFIXES):
            continue
        response = call(client, method, rule.rule)
        assert response.status_code == 403, (method, rule.rule, response.status_code)
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/tokens", "/api/v1/blocked-numbers"])
@pytest.mark.parametrize("roles", ["operator", "supervisor", "editor"])
def test_admin_only_lists(client, login, path, roles):
    login(client, roles=roles)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("method, path", [("POST", "/api/v1/teams"), ("PATCH", "/api/v1/teams/1"),
                                          ("DELETE", "/api/v1/teams/1")])
@pytest.mark.parametrize("roles", ["operator", "supervisor", "editor"])
def test_admin_only_writes(client, login, method, path, roles):
    login(client, roles=roles)
    assert call(client, method, path).status_code == 403


def test_no_api_endpoint_answers_5xx_to_an_empty_body(app, client, login):
    """Every unsafe endpoint, as an admin, with an empty JSON body: a 4xx or a 2xx."""
    login(client, roles="admin")
    for rule, method in api_rules(app):
        if method not in UNSAFE or rule.rule in ("/api/v1/auth/logout",):
            continue
        response = call(client, method, rule.rule)
        assert response.status_code < 500, (method, rule.rule, response.status_code, response.get_data(as_text=True)[:200])
