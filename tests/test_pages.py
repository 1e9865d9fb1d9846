"""Pages: login, guards, 403 page, languages, security headers."""
import re

import pytest

from tests.conftest import PASSWORD


def _page_login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                       "next": "/supervisor"})


@pytest.mark.parametrize("path", ["/console", "/supervisor"])
def test_logged_out_pages_redirect_to_login_with_next(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/login?next={path}")


def test_login_page_form_logs_in_and_follows_next(client, make_user):
    make_user("sup", roles="supervisor")
    response = _page_login(client, "sup")
    assert response.status_code == 302 and response.headers["Location"] == "/supervisor"
    assert client.get("/supervisor").status_code == 200


def test_login_form_refuses_missing_csrf(client, make_user):
    make_user("nocsrf")
    response = client.post("/login", data={"username": "nocsrf", "password": PASSWORD})
    assert response.status_code == 400


def test_login_form_ignores_offsite_next(client, make_user):
    make_user("op1")
    page = client.get("/login?next=https://evil.example/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": "op1", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/"})
    assert response.headers["Location"] == "/console"


def test_wrong_password_on_page_shows_error_with_401(client, make_user):
    make_user("op2")
    page = client.get("/login", headers={"Accept-Language": "en"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": "op2", "password": "wrong", "csrf_token": token},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert b"Wrong username or password" in response.data


def test_operator_without_role_gets_403_page(client, login):
    login(client, roles="operator")
    response = client.get("/supervisor")
    assert response.status_code == 403
    assert b"<html" in response.data


def test_editor_has_no_console(client, login):
    login(client, roles="editor")
    assert client.get("/console").status_code == 403


def test_console_shows_operator_name_and_presence_switch(client, login):
    login(client, name="佐藤 一郎", tier=2)
    html = client.get("/console", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "佐藤 一郎" in html
    assert 'data-presence="available"' in html
    assert "対応可" in html


def test_language_follows_browser_then_user_choice(client, login):
    assert "Log in" in client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "ログイン" in client.get("/login", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    login(client)
    client.patch("/api/v1/me", json={"locale": "en"})
    html = client.get("/console", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "Available" in html and "対応可" not in html


def test_pages_have_csp_without_inline_scripts(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    # The only <script> in the page is JSON data, which CSP does not execute.
    html = response.get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*(src=|application/json))", html) == []


def test_root_redirects(client, login):
    assert client.get("/").headers["Location"].endswith("/login")
    login(client)
    assert client.get("/").headers["Location"].endswith("/console")
