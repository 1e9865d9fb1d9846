"""Pages: the /kb editor guard and the public help center /help (server-rendered, no
login, nothing but published public articles reachable), and the demo manuals."""
import re

import pytest

from tests.test_kb_search import Editor


@pytest.fixture
def articles(app):
    from extensions import db
    from knowledge.service import create_article, publish

    with app.app_context():
        def make(title, body, visibility="public", locale="ja", publish_it=True, **extra):
            article = create_article({"title": title, "body": body, "visibility": visibility, "locale": locale,
                                      **extra}, Editor())
            if publish_it:
                publish(article, Editor())
            return article

        from knowledge.categories import resolve
        category = resolve("配送", create=True)
        ja = make("配送について", "# 配送\n\n通常**2〜4営業日**で発送します。", category_id=category)
        en = make("Shipping", "We ship in 2-4 days.", locale="en", category_id=category, translation_of=ja.id)
        internal = make("【社内】配送トラブル対応", "社内手順", visibility="internal")
        draft = make("配送の下書き", "未公開", publish_it=False)
        db.session.commit()
        return {"ja": ja.id, "en": en.id, "internal": internal.id, "draft": draft.id, "category": category}


def test_kb_page_needs_login_and_a_role(client, login):
    response = client.get("/kb")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/kb")
    login(client, roles="supervisor")
    assert client.get("/kb").status_code == 200


def test_kb_page_for_editor_has_the_editor_and_strings(client, login):
    login(client, roles="editor")
    html = client.get("/kb/articles/5", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'data-article-id="5"' in html and 'data-editor="true"' in html
    assert "ナレッジベース" in html and "プレビュー" in html and "/static/js/kb.js" in html
    assert "<script>" not in html.replace('<script type="application/json"', "")  # no inline scripts


def test_help_center_lists_public_articles_without_login(client, articles):
    html = client.get("/help", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "ヘルプセンター" in html and "配送について" in html and "配送" in html
    assert "社内" not in html and "下書き" not in html


def test_help_article_page_and_translation_link(client, articles):
    html = client.get(f"/help/articles/{articles['ja']}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "<strong>2〜4営業日</strong>" in html
    assert f'href="/help/articles/{articles["en"]}"' in html and "Read in English" in html
    english = client.get(f"/help/articles/{articles['en']}?lang=en").get_data(as_text=True)
    assert "Help center" in english and "Was this article helpful?" in english


@pytest.mark.parametrize("key", ["internal", "draft"])
def test_internal_and_draft_articles_are_404_in_the_help_center(client, articles, key):
    assert client.get(f"/help/articles/{articles[key]}").status_code == 404


def test_unknown_article_and_category_are_404(client, articles):
    assert client.get("/help/articles/999999").status_code == 404
    assert client.get("/help/categories/999999").status_code == 404


def test_help_search_on_the_page_escapes_and_highlights(client, articles):
    html = client.get("/help?q=配送", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "<mark>配送</mark>" in html and "社内" not in html
    hostile = client.get("/help?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in hostile
    assert client.get("/help?q=" + "あ" * 500).status_code == 200


def test_help_category_page(client, articles):
    html = client.get(f"/help/categories/{articles['category']}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "配送について" in html and "Shipping" not in html.split("<main")[1].split("help-search")[1]


def test_vote_form_needs_csrf_and_counts(client, app, articles):
    page = client.get(f"/help/articles/{articles['ja']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/help/articles/{articles['ja']}/vote", data={"helpful": "yes"}).status_code == 400
    response = client.post(f"/help/articles/{articles['ja']}/vote", data={"helpful": "yes", "csrf_token": token})
    assert response.status_code == 302
    assert "help-voted" in client.get(f"/help/articles/{articles['ja']}").get_data(as_text=True)
    assert client.post(f"/help/articles/{articles['internal']}/vote",
                       data={"helpful": "yes", "csrf_token": token}).status_code == 404
    from extensions import db
    from knowledge.models import KbArticle
    with app.app_context():
        assert db.session.get(KbArticle, articles["ja"]).helpful_yes == 1


def test_demo_seeds_published_manuals_once(app, client, make_user):
    make_user("editor", roles="editor")
    from extensions import db
    from knowledge import demo
    from knowledge.models import KbArticle

    with app.app_context():
        lines = demo.seed(10)
        db.session.commit()
        assert lines and "Knowledge base" in lines[0]
        assert demo.seed(10) == []
        articles = list(db.session.scalars(db.select(KbArticle)))
        assert len(articles) >= 30 and all(a.status == "published" for a in articles)
        assert {a.locale for a in articles} == {"ja", "en"}
        assert any(a.visibility == "internal" for a in articles)
        linked = next(a for a in articles if a.title == "パスワードの再設定方法")
        assert "/help/articles/" in linked.body and linked.current_rev == 2
    for word in ("請求書", "配送", "返品", "解約", "password"):
        assert client.get("/api/v1/kb/search", query_string={"q": word}).get_json()["items"], word
