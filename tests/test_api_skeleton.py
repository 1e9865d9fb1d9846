"""The API skeleton: OpenAPI document, docs page, the error shape for every status."""


def test_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/auth/login" in spec["paths"]
    assert "/api/v1/operators/me/presence" in spec["paths"]


def test_swagger_docs_page_is_served(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_unknown_api_path_is_json_404(client, login):
    login(client)
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405_with_allow(client, login):
    login(client)
    response = client.delete("/api/v1/me")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400_or_422_never_500(client, login):
    login(client)
    response = client.put("/api/v1/operators/me/presence", data="{not json", content_type="application/json")
    assert response.status_code in (400, 422)
    assert "error" in response.get_json()


def test_invalid_enum_is_422_with_fields(client, login):
    login(client)
    response = client.put("/api/v1/operators/me/presence", json={"presence": "sleeping"})
    assert response.status_code == 422
    assert "presence" in response.get_json()["error"]["fields"]


def test_oversize_body_is_413(app, client, login):
    login(client)
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.put("/api/v1/operators/me/presence", data=b"x" * (limit + 1), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_unexpected_errors_use_the_error_shape(client, login, monkeypatch):
    from routing import presence

    login(client)

    def _boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(presence, "set_presence", _boom)
    response = client.put("/api/v1/operators/me/presence", json={"presence": "available"})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "boom" not in response.get_data(as_text=True)


def test_api_responses_carry_security_headers(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_every_database_connection_busy_is_a_503_to_retry(client, login, monkeypatch):
    """Overload: the pool (no overflow) had no connection free within its timeout."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from routing import presence

    login(client)

    def _busy(*args, **kwargs):
        raise PoolTimeout("QueuePool limit of size 15 overflow 0 reached")

    monkeypatch.setattr(presence, "set_presence", _busy)
    response = client.put("/api/v1/operators/me/presence", json={"presence": "available"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"]["code"] == "unavailable"
