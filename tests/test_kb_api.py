"""Knowledge base API: articles, revisions, diff, restore, publish, archive, review,
proposals, translations, categories, images, uses and votes (CONTRACT §3, §8)."""
import io

import pytest

from tests.conftest import PASSWORD

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def create(client, **over):
    body = {"title": "配送について", "body": "# 配送\n\n通常2〜4営業日で発送します。", "locale": "ja", "visibility": "public"}
    body.update(over)
    response = client.post("/api/v1/kb/articles", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_is_always_a_draft_with_revision_one_and_sanitised_html(client, login):
    user_id, _ = login(client, roles="editor")
    article = create(client, status="published", body="**太字** <script>alert(1)</script> [x](javascript:alert(1))",
                     category="配送/送料", tags=["shipping"])
    assert article["status"] == "draft" and article["version"] == 1 and article["current_rev"] == 1
    assert article["author_id"] == user_id
    assert "<strong>太字</strong>" in article["html"]
    assert "<script>" not in article["html"] and "&lt;script&gt;" in article["html"]
    assert 'href="javascript' not in article["html"]
    assert article["category"] == "配送 / 送料" and article["tags"] == ["shipping"]
    for key in ("id", "title", "body", "html", "status", "visibility", "locale", "category", "tags", "version",
                "author_id", "updated_at"):
        assert key in article
    response = client.get(f"/api/v1/kb/articles/{article['id']}")
    assert response.headers["ETag"] == '"1"'
    revisions = client.get(f"/api/v1/kb/articles/{article['id']}/revisions").get_json()
    assert [r["rev"] for r in revisions["items"]] == [1] and revisions["next_cursor"] is None
    assert set(revisions["items"][0]) >= {"rev", "author_id", "created_at", "note", "title"}


def test_every_save_is_a_revision_and_revision_detail_has_the_body(client, login):
    login(client, roles="editor")
    article = create(client)
    for number, version in ((2, 1), (3, 2)):
        response = client.patch(f"/api/v1/kb/articles/{article['id']}",
                                json={"body": f"本文 {number}", "version": version, "note": f"edit {number}"})
        assert response.status_code == 200 and response.headers["ETag"] == f'"{version + 1}"'
    items = client.get(f"/api/v1/kb/articles/{article['id']}/revisions").get_json()["items"]
    assert [r["rev"] for r in items] == [3, 2, 1] and items[0]["note"] == "edit 3"
    detail = client.get(f"/api/v1/kb/articles/{article['id']}/revisions/2").get_json()
    assert detail["body"] == "本文 2" and detail["rev"] == 2
    assert client.get(f"/api/v1/kb/articles/{article['id']}/revisions/9").status_code == 404


def test_stale_version_is_409_naming_the_other_editor(client, app, login, make_user):
    login(client, roles="editor", name="編集 花子")
    article = create(client)
    other = app.test_client()
    make_user("editor2", roles="editor", name="校正 次郎")
    token = other.post("/api/v1/auth/login", json={"username": "editor2", "password": PASSWORD}).get_json()["csrf_token"]
    assert other.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "先に保存", "version": 1},
                       headers={"X-CSRF-Token": token}).status_code == 200
    response = client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "後から保存", "version": 1})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert "校正 次郎" in error["message"] and error["current_version"] == 2
    # If-Match works the same, quoted or not.
    assert client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "x"},
                        headers={"If-Match": '"1"'}).status_code == 409
    assert client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "x"},
                        headers={"If-Match": "2"}).status_code == 200
    assert client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "x"},
                        headers={"If-Match": "abc"}).status_code == 422


def test_autosave_refreshes_one_revision_until_an_explicit_save(client, login):
    login(client, roles="editor")
    article = create(client)
    version = 1
    for text in ("下書き1", "下書き2", "下書き3"):
        response = client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": text, "version": version,
                                                                               "autosave": True})
        assert response.status_code == 200
        version = response.get_json()["version"]
    items = client.get(f"/api/v1/kb/articles/{article['id']}/revisions").get_json()["items"]
    assert [r["rev"] for r in items] == [2, 1] and items[0]["autosave"] is True
    assert client.get(f"/api/v1/kb/articles/{article['id']}/revisions/2").get_json()["body"] == "下書き3"
    client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "清書", "version": version})
    assert client.get(f"/api/v1/kb/articles/{article['id']}/revisions").get_json()["items"][0]["rev"] == 3


def test_diff_and_restore_make_a_new_revision(client, login):
    login(client, roles="editor")
    article = create(client, body="一行目\n二行目\n三行目")
    client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "一行目\n二行目を変更\n四行目", "title": "配送の案内"})
    diff = client.get(f"/api/v1/kb/articles/{article['id']}/diff?from=1&to=2").get_json()
    assert diff["from"] == 1 and diff["to"] == 2 and diff["title"]["changed"]
    ops = [line["op"] for line in diff["lines"]]
    assert ops[0] == "equal" and "replace" in ops
    replaced = next(line for line in diff["lines"] if line["op"] == "replace")
    assert {"op": "insert", "text": "を変更"} in replaced["segments"]
    assert diff["stats"] == {"added": 2, "removed": 2}
    assert "-三行目" in diff["unified"] and "+四行目" in diff["unified"]
    restored = client.post(f"/api/v1/kb/articles/{article['id']}/revisions/1/restore", json={})
    assert restored.status_code == 200
    body = restored.get_json()
    assert body["body"] == "一行目\n二行目\n三行目" and body["title"] == "配送について" and body["current_rev"] == 3
    notes = [r["note"] for r in client.get(f"/api/v1/kb/articles/{article['id']}/revisions").get_json()["items"]]
    assert notes[0] == "Restored revision 1"
    assert client.post(f"/api/v1/kb/articles/{article['id']}/revisions/7/restore", json={}).status_code == 404
    assert client.get(f"/api/v1/kb/articles/{article['id']}/diff?from=0").status_code == 422


def test_publish_is_an_action_not_a_revision_and_delete_archives(client, login):
    login(client, roles="editor")
    article = create(client)
    response = client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={})
    assert response.status_code == 200
    published = response.get_json()
    assert published["status"] == "published" and published["published_at"] and published["current_rev"] == 1
    assert client.delete(f"/api/v1/kb/articles/{article['id']}").status_code == 204
    archived = client.get(f"/api/v1/kb/articles/{article['id']}").get_json()
    assert archived["status"] == "archived"
    assert len(client.get(f"/api/v1/kb/articles/{article['id']}/revisions").get_json()["items"]) == 1
    listed = client.get("/api/v1/kb/articles").get_json()["items"]
    assert article["id"] not in [a["id"] for a in listed]
    assert article["id"] in [a["id"] for a in client.get("/api/v1/kb/articles?status=archived").get_json()["items"]]
    assert client.patch(f"/api/v1/kb/articles/{article['id']}", json={"status": "published"}).status_code == 422


def test_scheduled_publish_waits_for_its_time(client, app, login):
    login(client, roles="editor")
    article = create(client)
    response = client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={"at": "2099-01-01T00:00:00+00:00"})
    assert response.status_code == 200 and response.get_json()["status"] == "draft"
    assert response.get_json()["publish_at"].startswith("2099-01-01")
    from datetime import UTC, datetime

    from extensions import db
    from knowledge.service import publish_due
    with app.app_context():
        assert publish_due(datetime(2098, 1, 1, tzinfo=UTC)) == []
        assert publish_due(datetime(2099, 1, 2, tzinfo=UTC)) == [article["id"]]
        db.session.commit()
    assert client.get(f"/api/v1/kb/articles/{article['id']}").get_json()["status"] == "published"
    assert client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={"at": "soon"}).status_code == 422


def test_review_needs_another_editors_approval_before_publishing(client, app, login, make_user):
    login(client, roles="editor")
    article = create(client, needs_review=True)
    response = client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "needs_review"
    assert client.post(f"/api/v1/kb/articles/{article['id']}/approve", json={}).status_code == 403  # own revision
    reviewer = app.test_client()
    make_user("reviewer", roles="editor")
    token = reviewer.post("/api/v1/auth/login", json={"username": "reviewer", "password": PASSWORD}).get_json()["csrf_token"]
    approved = reviewer.post(f"/api/v1/kb/articles/{article['id']}/approve", json={}, headers={"X-CSRF-Token": token})
    assert approved.status_code == 200 and approved.get_json()["approved"] is True
    # A save after the approval needs a new one.
    client.patch(f"/api/v1/kb/articles/{article['id']}", json={"body": "変更後"})
    assert client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={}).status_code == 409
    reviewer.post(f"/api/v1/kb/articles/{article['id']}/approve", json={}, headers={"X-CSRF-Token": token})
    published = client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={})
    assert published.status_code == 200 and published.get_json()["status"] == "published"


def test_review_can_be_required_for_every_article(client, app, login):
    login(client, roles="editor")
    article = create(client)
    app.config["KB_REQUIRE_REVIEW"] = True
    try:
        assert client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={}).status_code == 409
    finally:
        app.config["KB_REQUIRE_REVIEW"] = False
    assert client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={}).status_code == 200


def test_operator_proposal_is_applied_by_an_editor(client, app, login, make_user):
    editor_id, _ = login(client, roles="editor")
    original = create(client, title="返品のご案内", body="到着後8日以内")
    client.post(f"/api/v1/kb/articles/{original['id']}/publish", json={})
    operator = app.test_client()
    make_user("op-prop", roles="operator", name="提案 太郎")
    token = operator.post("/api/v1/auth/login", json={"username": "op-prop", "password": PASSWORD}).get_json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    proposal = operator.post("/api/v1/kb/articles", json={"title": "返品のご案内", "body": "到着後14日以内",
                                                         "proposal_for": original["id"]}, headers=headers)
    assert proposal.status_code == 201 and proposal.get_json()["status"] == "draft"
    proposal_id = proposal.get_json()["id"]
    # The operator may change the own proposal, not the published article, and never publish.
    assert operator.patch(f"/api/v1/kb/articles/{proposal_id}", json={"body": "到着後10日以内"},
                          headers=headers).status_code == 200
    assert operator.patch(f"/api/v1/kb/articles/{original['id']}", json={"body": "x"}, headers=headers).status_code == 403
    assert operator.post(f"/api/v1/kb/articles/{proposal_id}/publish", json={}, headers=headers).status_code == 403
    assert client.post(f"/api/v1/kb/articles/{proposal_id}/publish", json={}).status_code == 409
    applied = client.post(f"/api/v1/kb/articles/{proposal_id}/apply", json={})
    assert applied.status_code == 200
    target = applied.get_json()
    assert target["id"] == original["id"] and target["body"] == "到着後10日以内" and target["status"] == "published"
    assert target["updated_by_id"] == editor_id
    note = client.get(f"/api/v1/kb/articles/{original['id']}/revisions").get_json()["items"][0]["note"]
    assert f"#{proposal_id}" in note and "提案 太郎" in note
    assert client.get(f"/api/v1/kb/articles/{proposal_id}").get_json()["status"] == "archived"


def test_translations_are_linked_both_ways(client, login):
    login(client, roles="editor")
    ja = create(client)
    en = create(client, title="Shipping", body="We ship in 2-4 days.", locale="en", translation_of=ja["id"])
    assert en["translation_group"] == ja["id"]
    assert [t["id"] for t in client.get(f"/api/v1/kb/articles/{ja['id']}").get_json()["translations"]] == [en["id"]]
    assert [t["locale"] for t in client.get(f"/api/v1/kb/articles/{en['id']}").get_json()["translations"]] == ["ja"]
    same = client.post("/api/v1/kb/articles", json={"title": "重複", "locale": "ja", "translation_of": ja["id"]})
    assert same.status_code == 422


def test_categories_tree(client, login):
    login(client, roles="editor")
    parent = client.post("/api/v1/kb/categories", json={"name_ja": "お支払い", "name_en": "Billing"})
    assert parent.status_code == 201
    child = client.post("/api/v1/kb/categories", json={"name_ja": "請求書", "name_en": "Invoices",
                                                       "parent_id": parent.get_json()["id"]}).get_json()
    items = client.get("/api/v1/kb/categories").get_json()["items"]
    assert {c["name_ja"] for c in items} == {"お支払い", "請求書"}
    cycle = client.patch(f"/api/v1/kb/categories/{parent.get_json()['id']}", json={"parent_id": child["id"]})
    assert cycle.status_code == 422
    article = create(client, category=child["id"])
    assert article["category"] == "お支払い / 請求書"
    assert client.delete(f"/api/v1/kb/categories/{child['id']}").status_code == 409
    assert client.post("/api/v1/kb/articles", json={"title": "x", "category": 99999}).status_code == 422
    assert client.post("/api/v1/kb/articles", json={"title": "x", "category": [1]}).status_code == 422


def test_image_upload_checks_type_and_size(client, app, login):
    login(client, roles="editor")
    response = client.post("/api/v1/kb/images", data={"file": (io.BytesIO(PNG), "dot.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 201
    image = response.get_json()
    assert image["content_type"] == "image/png" and image["markdown"].startswith("![dot](/help/images/")
    served = client.get(image["url"])
    assert served.status_code == 200 and served.data == PNG and served.headers["Content-Type"] == "image/png"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    refused = client.post("/api/v1/kb/images", data={"file": (io.BytesIO(svg), "x.png")}, content_type="multipart/form-data")
    assert refused.status_code == 422 and refused.get_json()["error"]["fields"]["file"]
    app.config["KB_IMAGE_MAX_BYTES"] = 64
    try:
        big = client.post("/api/v1/kb/images", data={"file": (io.BytesIO(PNG + b"\0" * 100), "big.png")},
                          content_type="multipart/form-data")
        assert big.status_code == 413 and big.get_json()["error"]["code"] == "too_large"
    finally:
        app.config["KB_IMAGE_MAX_BYTES"] = 5 * 1024 * 1024
    assert client.post("/api/v1/kb/images", data={}, content_type="multipart/form-data").status_code == 422
    assert client.get("/help/images/not-a-key").status_code == 404


def test_preview_uses_the_server_sanitiser(client, login):
    login(client, roles="operator")
    html = client.post("/api/v1/kb/preview", json={"body": "# 見出し\n<img src=x onerror=alert(1)>"}).get_json()["html"]
    assert "<h1>見出し</h1>" in html and "onerror" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")


def test_uses_are_recorded_once_per_ticket(client, app, login):
    login(client, roles="operator")
    with app.app_context():
        from extensions import db
        from knowledge.models import KbArticle
        from knowledge.service import create_article, publish
        from knowledge.suggest import record_use

        class Editor:
            is_authenticated = True
            user_id = None

            def has_role(self, role):
                return True
        article = create_article({"title": "請求書", "body": "請求書の再発行"}, Editor())
        publish(article, Editor())
        db.session.commit()
        article_id = article.id
        assert record_use(article_id, 501, None) is True
        assert record_use(article_id, 501, None) is False
        db.session.commit()
        assert db.session.get(KbArticle, article_id).use_count == 1
    response = client.post(f"/api/v1/kb/articles/{article_id}/uses", json={"ticket_id": 502})
    assert response.status_code == 200 and response.get_json()["use_count"] == 2
    assert client.post(f"/api/v1/kb/articles/{article_id}/uses", json={"ticket_id": "x"}).status_code == 422
    assert client.post("/api/v1/kb/articles/99999/uses", json={"ticket_id": 1}).status_code == 404


def test_votes_count_once_per_visitor(client, login):
    login(client, roles="editor")
    article = create(client)
    client.post(f"/api/v1/kb/articles/{article['id']}/publish", json={})
    client.post("/api/v1/auth/logout")
    client.csrf_token = None
    first = client.post(f"/api/v1/kb/articles/{article['id']}/votes", json={"helpful": True})
    assert first.status_code == 200 and first.get_json()["helpful_yes"] == 1
    again = client.post(f"/api/v1/kb/articles/{article['id']}/votes", json={"helpful": False}).get_json()
    assert again["helpful_yes"] == 0 and again["helpful_no"] == 1
    assert client.post(f"/api/v1/kb/articles/{article['id']}/votes", json={"helpful": "maybe"}).status_code == 422


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"title": "x" * 201}, {"title": "x", "visibility": "secret"},
                                  {"title": "x", "locale": "fr"}, {"title": "x", "tags": "notalist"},
                                  {"title": 5}, []])
def test_bad_input_is_422_never_500(client, login, body):
    login(client, roles="editor")
    response = client.post("/api/v1/kb/articles", json=body)
    assert response.status_code in (400, 422)
    assert response.get_json()["error"]["code"] in ("validation_error", "bad_request")


def test_bad_queries_are_4xx(client, login):
    login(client, roles="editor")
    assert client.get("/api/v1/kb/articles?limit=0").status_code == 422
    assert client.get("/api/v1/kb/articles?cursor=garbage").status_code == 422
    assert client.get("/api/v1/kb/search").status_code == 422
    assert client.get("/api/v1/kb/search?q=" + "x" * 201).status_code == 422
    assert client.get("/api/v1/kb/search?q=a&locale=fr").status_code == 422
    assert client.get("/api/v1/kb/articles/99999").status_code == 404
    assert client.get("/api/v1/kb/search?q=%22%2A%28%29%3A%5E").status_code == 200  # FTS syntax is not injected


def test_list_pages_with_cursor_and_filters(client, login):
    login(client, roles="editor")
    ids = [create(client, title=f"記事{i}", locale="ja" if i % 2 else "en")["id"] for i in range(5)]
    page = client.get("/api/v1/kb/articles?limit=2").get_json()
    assert [a["id"] for a in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    rest = client.get(f"/api/v1/kb/articles?limit=10&cursor={page['next_cursor']}").get_json()
    assert [a["id"] for a in rest["items"]] == ids[::-1][2:]
    assert {a["locale"] for a in client.get("/api/v1/kb/articles?locale=en").get_json()["items"]} == {"en"}
    assert [a["title"] for a in client.get("/api/v1/kb/articles?q=記事3").get_json()["items"]] == ["記事3"]
