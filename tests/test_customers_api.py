"""The customers API: create, identities (409/422), lookup, search, optimistic PATCH,
rank_override, notes, purchases, timeline, audit, privacy, roles."""
from contextlib import contextmanager

import pytest


def _create(client, **over):
    body = {"name": "山田 太郎", "name_kana": "ヤマダ タロウ", "phones": ["03-1234-5678"],
            "emails": ["Taro.Yamada@Example.jp"], **over}
    response = client.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@contextmanager
def count_queries(app):
    from sqlalchemy import event

    from extensions import db

    statements = []

    def _before(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _before)


def test_create_normalises_identities_and_answers_201_with_etag(client, login):
    login(client)
    response = client.post("/api/v1/customers", json={
        "name": "山田 太郎", "name_kana": "やまだ たろう", "phones": ["０３−１２３４−５６７８", "090-1234-5678"],
        "emails": ["Taro@Example.JP"], "birthday": "1980-04-01", "dm_opt_in": True, "tags": ["VIP", "VIP", "法人"]})
    assert response.status_code == 201
    body = response.get_json()
    assert body["phones"] == ["+81312345678", "+819012345678"]
    assert body["emails"] == ["taro@example.jp"]
    assert body["rank"] == "new" and body["rank_override"] is None and body["version"] == 1
    assert body["tags"] == ["VIP", "法人"] and body["birthday"] == "1980-04-01"
    assert set(body["rfm"]) == {"recency_days", "frequency", "monetary", "r", "f", "m"}
    assert response.headers["ETag"] == '"1"'
    for key in ("id", "name", "name_kana", "company", "address", "ltv", "dm_opt_in", "created_at", "last_contact_at"):
        assert key in body


@pytest.mark.parametrize("same", ["03-1234-5678", "０３−１２３４−５６７８", "+81 3 1234 5678", "0312345678"])
def test_taken_phone_is_409_naming_the_owner(client, login, same):
    login(client)
    first = _create(client)
    response = client.post("/api/v1/customers", json={"name": "別人", "phones": [same]})
    assert response.status_code == 409
    assert response.get_json()["error"]["customer_id"] == first["id"]


def test_taken_email_in_other_case_is_409(client, login):
    login(client)
    first = _create(client)
    response = client.post("/api/v1/customers", json={"name": "別人", "emails": ["TARO.YAMADA@example.JP"]})
    assert response.status_code == 409 and response.get_json()["error"]["customer_id"] == first["id"]


@pytest.mark.parametrize("body", [{"name": "A", "phones": ["03-12"]}, {"name": "A", "phones": ["abc"]},
                                  {"name": "A", "emails": ["not-an-email"]}, {"name": ""}, {},
                                  {"name": "A", "birthday": "1980-13-45"}, {"name": "A", "phones": "0312345678"}])
def test_invalid_input_is_422_with_fields(client, login, body):
    login(client)
    response = client.post("/api/v1/customers", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and error["message"]


def test_invalid_phone_message_names_the_number(client, login):
    login(client)
    error = client.post("/api/v1/customers", json={"name": "A", "phones": ["03-12"]}).get_json()["error"]
    assert "03-12" in error["message"] and "phones" in error["fields"]


@pytest.mark.parametrize("query", ["phone=03-1234-5678", "phone=%2B81312345678", "phone=81312345678",
                                   "phone=%EF%BC%90%EF%BC%93%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96%EF%BC%97%EF%BC%98",
                                   "email=TARO.YAMADA%40EXAMPLE.JP"])
def test_lookup_by_any_form(client, login, query):
    login(client)
    created = _create(client)
    response = client.get(f"/api/v1/customers/lookup?{query}")
    assert response.status_code == 200 and response.get_json()["id"] == created["id"]


def test_lookup_misses_are_404_and_missing_args_422(client, login):
    login(client)
    _create(client)
    assert client.get("/api/v1/customers/lookup?phone=03-9999-0000").status_code == 404
    assert client.get("/api/v1/customers/lookup?phone=anonymous").status_code == 404
    assert client.get("/api/v1/customers/lookup").status_code == 422


def test_lookup_reads_the_customer_in_one_query(app, client, login):
    login(client)
    _create(client)
    with count_queries(app) as statements:
        assert client.get("/api/v1/customers/lookup?phone=0312345678").status_code == 200
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "customer" in s.lower()]
    assert len(selects) == 1, selects


def test_search_by_name_kana_phone_email_company_and_rank(client, login):
    login(client)
    a = _create(client, company="株式会社つなぐ")
    b = _create(client, name="佐藤 花子", name_kana="サトウ ハナコ", phones=["090-2222-3333"], emails=["hanako@example.com"])

    def ids(query):
        response = client.get(f"/api/v1/customers?{query}")
        assert response.status_code == 200
        return [c["id"] for c in response.get_json()["items"]]

    assert ids("q=山田") == [a["id"]]
    assert ids("q=山田太郎") == [a["id"]]  # spaces do not matter
    assert ids("q=さとう") == [b["id"]]  # hiragana finds katakana furigana
    assert ids("q=0312345678") == [a["id"]]
    assert ids("q=2222-3333") == [b["id"]]
    assert ids("q=HANAKO@example") == [b["id"]]
    assert ids("q=つなぐ") == [a["id"]]
    assert ids("q=50%25") == []
    assert sorted(ids("")) == sorted([a["id"], b["id"]])
    # Sorted by furigana: サトウ before ヤマダ.
    assert ids("") == [b["id"], a["id"]]
    assert ids("rank=new") == [b["id"], a["id"]] and ids("rank=gold") == []
    assert client.get("/api/v1/customers?rank=diamond").status_code == 422


def test_list_pages_with_cursor(client, login):
    login(client)
    for index in range(5):
        _create(client, name=f"顧客{index}", name_kana=f"コキャク{index}", phones=[f"03-555{index}-0000"], emails=[])
    seen, cursor = [], None
    while True:
        body = client.get("/api/v1/customers?limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [c["name"] for c in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"顧客{i}" for i in range(5)]
    assert client.get("/api/v1/customers?cursor=garbage").status_code == 422
    assert client.get("/api/v1/customers?limit=201").status_code == 422


def test_patch_is_optimistic_with_version_or_if_match(client, login):
    login(client)
    created = _create(client)
    url = f"/api/v1/customers/{created['id']}"
    response = client.patch(url, json={"company": "つなぐ商事", "version": 1})
    assert response.status_code == 200 and response.get_json()["version"] == 2
    assert response.headers["ETag"] == '"2"'
    stale = client.patch(url, json={"company": "古い", "version": 1})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "conflict"
    assert client.patch(url, json={"address": "東京"}, headers={"If-Match": '"1"'}).status_code == 409
    ok = client.patch(url, json={"address": "東京都千代田区"}, headers={"If-Match": "2"})
    assert ok.status_code == 200 and ok.get_json()["version"] == 3
    assert client.patch(url, json={"address": "x"}, headers={"If-Match": "abc"}).status_code == 422
    current = client.get(url)
    assert current.get_json()["company"] == "つなぐ商事" and current.headers["ETag"] == '"3"'


def test_patch_identities_replaces_and_conflicts(client, login):
    login(client)
    a = _create(client)
    b = _create(client, name="B", name_kana=None, phones=["090-1111-2222"], emails=[])
    url = f"/api/v1/customers/{b['id']}"
    taken = client.patch(url, json={"phones": ["0312345678"]})
    assert taken.status_code == 409 and taken.get_json()["error"]["customer_id"] == a["id"]
    assert client.patch(url, json={"phones": ["090-1111-2222", "+81 80 1234 5678"]}).get_json()["phones"] == \
        ["+819011112222", "+818012345678"]
    assert client.patch(url, json={"phones": ["1"]}).status_code == 422


def test_only_supervisors_set_rank_override_and_it_shows_at_once(app, client, login):
    login(client, roles="operator")
    created = _create(client)
    url = f"/api/v1/customers/{created['id']}"
    assert client.patch(url, json={"rank_override": "platinum"}).status_code == 403
    # Sending back the value it already has is not a change (GET output is valid PATCH input).
    assert client.patch(url, json={"rank_override": None, "name": "山田 太郎"}).status_code == 200
    supervisor = app.test_client()
    login(supervisor, roles="supervisor")
    response = supervisor.patch(url, json={"rank_override": "platinum"})
    assert response.status_code == 200
    assert response.get_json()["rank"] == "platinum" and response.get_json()["rank_override"] == "platinum"
    assert client.get(url).get_json()["rank"] == "platinum"
    assert [c["id"] for c in client.get("/api/v1/customers?rank=platinum").get_json()["items"]] == [created["id"]]
    assert supervisor.patch(url, json={"rank_override": "diamond"}).status_code == 422
    assert supervisor.patch(url, json={"rank_override": None}).get_json()["rank"] == "new"


def test_notes_purchases_and_timeline(client, login):
    user_id, _ = login(client)
    customer = _create(client)
    url = f"/api/v1/customers/{customer['id']}"
    note = client.post(f"{url}/notes", json={"body": "午前中に折り返し希望\n詳細は後ほど"})
    assert note.status_code == 201
    assert note.get_json()["kind"] == "note" and note.get_json()["summary"] == "午前中に折り返し希望"
    assert note.get_json()["operator_id"] == user_id
    assert client.post(f"{url}/notes", json={"body": ""}).status_code == 422
    purchase = client.post(f"{url}/purchases", json={"product": "南部鉄器 急須", "amount": 12800, "quantity": 1,
                                                     "purchased_at": "2026-01-05T10:00:00+09:00"})
    assert purchase.status_code == 201
    assert purchase.get_json()["purchased_at"].startswith("2026-01-05T01:00:00")
    assert client.post(f"{url}/purchases", json={"product": "x", "amount": -1}).status_code == 422
    assert client.post(f"{url}/purchases", json={"product": "x", "amount": "12,800"}).status_code == 422
    assert client.post(f"{url}/purchases", json={"product": "x", "amount": 1, "purchased_at": "yesterday"}).status_code == 422
    items = client.get(f"{url}/timeline").get_json()
    assert [i["kind"] for i in items["items"]] == ["note", "purchase"]
    purchase_item = items["items"][1]
    assert purchase_item["occurred_at"].startswith("2026-01-05T01:00:00")
    for key in ("id", "kind", "channel", "direction", "occurred_at", "summary", "ticket_id", "operator_id"):
        assert key in purchase_item
    profile = client.get(url).get_json()
    assert profile["ltv"] == 12800 and profile["rfm"]["frequency"] in (0, 1)
    assert client.get(f"{url}/purchases").get_json()["items"][0]["amount"] == 12800


def test_timeline_pages_with_before_cursor(client, login):
    login(client)
    customer = _create(client)
    url = f"/api/v1/customers/{customer['id']}"
    for index in range(7):
        client.post(f"{url}/notes", json={"body": f"note {index}"})
    first = client.get(f"{url}/timeline?limit=3").get_json()
    second = client.get(f"{url}/timeline?limit=3&before={first['next_cursor']}").get_json()
    third = client.get(f"{url}/timeline?limit=3&before={second['next_cursor']}").get_json()
    summaries = [i["summary"] for page in (first, second, third) for i in page["items"]]
    assert summaries == [f"note {i}" for i in range(6, -1, -1)]
    assert third["next_cursor"] is None
    assert client.get(f"{url}/timeline?before=nonsense").status_code == 422


def test_reads_are_audit_logged_and_audit_is_admin_only(app, client, login):
    login(client)
    customer = _create(client)
    url = f"/api/v1/customers/{customer['id']}"
    client.get(url)
    client.get(f"{url}/timeline")
    client.get(f"{url}/export")
    client.get("/api/v1/customers/lookup?phone=0312345678")
    assert client.get(f"/api/v1/audit?customer_id={customer['id']}").status_code == 403
    admin = app.test_client()
    admin_id, admin_name = login(admin, roles="admin")
    admin.get(url)
    rows = admin.get(f"/api/v1/audit?customer_id={customer['id']}").get_json()["items"]
    actions = [r["action"] for r in rows]
    for action in ("customer.create", "customer.read", "customer.timeline", "customer.export", "customer.lookup"):
        assert action in actions
    newest = rows[0]
    assert set(newest) == {"id", "at", "actor_id", "actor_username", "action", "customer_id", "detail"}
    assert newest["actor_id"] == admin_id and newest["actor_username"] == admin_name
    assert newest["action"] == "customer.read" and newest["customer_id"] == customer["id"]


def test_export_contains_everything(client, login):
    login(client)
    customer = _create(client)
    url = f"/api/v1/customers/{customer['id']}"
    client.post(f"{url}/purchases", json={"product": "P", "amount": 100, "purchased_at": "2026-02-01"})
    client.post(f"{url}/notes", json={"body": "memo"})
    body = client.get(f"{url}/export").get_json()
    assert body["customer"]["emails"] == ["taro.yamada@example.jp"]
    assert len(body["purchases"]) == 1 and {i["kind"] for i in body["timeline"]} == {"purchase", "note"}


def test_admin_anonymises_keeping_purchases(app, client, login):
    login(client)
    customer = _create(client, address="東京都", birthday="1970-01-01", company="社名")
    url = f"/api/v1/customers/{customer['id']}"
    client.post(f"{url}/purchases", json={"product": "P", "amount": 5000, "purchased_at": "2026-02-01"})
    client.post(f"{url}/notes", json={"body": "個人的な情報"})
    assert client.post(f"{url}/anonymize").status_code == 403
    admin = app.test_client()
    login(admin, roles="admin")
    response = admin.post(f"{url}/anonymize")
    assert response.status_code == 200
    body = response.get_json()
    assert body["anonymized"] is True and body["phones"] == [] and body["emails"] == []
    assert body["address"] is None and body["birthday"] is None and body["company"] is None
    assert "山田" not in body["name"] and body["ltv"] == 5000
    assert client.get("/api/v1/customers/lookup?phone=0312345678").status_code == 404
    items = admin.get(f"{url}/timeline").get_json()["items"]
    assert all("個人的" not in i["summary"] for i in items)
    assert [i["kind"] for i in items if i["kind"] == "purchase"] == ["purchase"]
    assert admin.post(f"{url}/anonymize").status_code == 409
    actions = [r["action"] for r in admin.get(f"/api/v1/audit?customer_id={customer['id']}").get_json()["items"]]
    assert "customer.anonymize" in actions
    # The freed phone can belong to someone new.
    assert client.post("/api/v1/customers", json={"name": "新", "phones": ["03-1234-5678"]}).status_code == 201


def test_unknown_customer_is_404(client, login):
    login(client)
    for method, path in (("get", "/api/v1/customers/999"), ("patch", "/api/v1/customers/999"),
                         ("get", "/api/v1/customers/999/timeline"), ("post", "/api/v1/customers/999/notes")):
        kwargs = {"json": {"body": "x"} if path.endswith("notes") else {"name": "x"}} if method != "get" else {}
        assert getattr(client, method)(path, **kwargs).status_code == 404


ENDPOINTS = [
    ("get", "/api/v1/customers"), ("post", "/api/v1/customers"), ("get", "/api/v1/customers/lookup?phone=0312345678"),
    ("get", "/api/v1/customers/{id}"), ("patch", "/api/v1/customers/{id}"), ("get", "/api/v1/customers/{id}/timeline"),
    ("post", "/api/v1/customers/{id}/notes"), ("get", "/api/v1/customers/{id}/purchases"),
    ("post", "/api/v1/customers/{id}/purchases"), ("post", "/api/v1/customers/{id}/merge"),
    ("get", "/api/v1/customers/{id}/duplicates"), ("get", "/api/v1/customers/{id}/export"),
    ("post", "/api/v1/customers/{id}/anonymize"), ("post", "/api/v1/imports"), ("get", "/api/v1/audit"),
    ("post", "/api/v1/analytics/ranks/recompute"), ("get", "/api/v1/analytics/rfm"), ("get", "/api/v1/analytics/deciles"),
]
SUPERVISOR_ONLY = {"/api/v1/analytics/ranks/recompute", "/api/v1/analytics/rfm", "/api/v1/analytics/deciles"}
ADMIN_ONLY = {"/api/v1/audit", "/api/v1/customers/{id}/anonymize"}


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize("role", ["editor", "operator", None])
def test_permissions_per_role(app, client, login, make_user, method, path, role):
    with app.app_context():
        from customers import service
        from extensions import db

        customer_id = service.create({"name": "権限 テスト", "phones": ["03-1234-5678"]}).id
        db.session.commit()
    if role:
        login(client, roles=role)
    response = getattr(client, method)(path.format(id=customer_id), **({"json": {}} if method != "get" else {}))
    if role is None:
        assert response.status_code == 401
    elif role == "editor" or (role == "operator" and (path in SUPERVISOR_ONLY or path in ADMIN_ONLY)):
        assert response.status_code == 403
    else:
        assert response.status_code not in (401, 403, 500)


def test_editor_gets_403_page_on_customer_pages(client, login):
    login(client, roles="editor")
    assert client.get("/customers").status_code == 403
    assert client.get("/customers/1").status_code == 403


def test_pages_render_and_log_the_view(app, client, login):
    login(client)
    customer = _create(client)
    client.post(f"/api/v1/customers/{customer['id']}/notes", json={"body": "メモ"})
    listing = client.get("/customers?q=やまだ", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "山田 太郎" in listing and "03-1234-5678" in listing and "顧客" in listing
    page = client.get(f"/customers/{customer['id']}", headers={"Accept-Language": "ja"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "山田 太郎" in html and 'data-rank="new"' in html and "タイムライン" in html
    assert client.get("/customers/987654").status_code == 404
    with app.app_context():
        from sqlalchemy import select

        from core.audit import AuditEntry
        from extensions import db

        actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.customer_id == customer["id"])))
    assert "customer.view" in actions
