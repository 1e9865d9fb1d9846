"""The API skeleton: OpenAPI document, docs page, the error shape for every status."""

import pytest


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


def _pool_timeout():
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return PoolTimeout("QueuePool limit of size 15 overflow 0 reached")


@pytest.mark.parametrize("error, status, code", [
    (lambda: RuntimeError("boom"), 500, "internal_error"),  # a bug: nothing of it shows
    (_pool_timeout, 503, "unavailable"),  # overload: every pooled connection stayed busy; retry
])
def test_unexpected_errors_use_the_error_shape(client, login, monkeypatch, error, status, code):
    from routing import presence

    login(client)

    def _fail(*args, **kwargs):
        raise error()

    monkeypatch.setattr(presence, "set_presence", _fail)
    response = client.put("/api/v1/operators/me/presence", json={"presence": "available"})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert "boom" not in response.get_data(as_text=True)
    assert response.headers.get("Retry-After") == ("2" if status == 503 else None)


def test_api_responses_carry_security_headers(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
