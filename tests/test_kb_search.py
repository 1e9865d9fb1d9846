"""Knowledge-base search on the test backend (SQLite FTS5 or PostgreSQL): Japanese
substrings down to two characters, English word forms, ranking, snippets, visibility,
the index kept in step with the articles, and suggestions for tickets."""
import pytest

from knowledge.text import highlight, parse_query


class Editor:
    """Acts as an editor inside service calls."""

    is_authenticated = True
    user_id = None

    def has_role(self, role):
        return True


@pytest.fixture
def kb(app):
    """``kb(title, body, visibility="public", locale="ja", publish=True)`` → article id."""
    from extensions import db
    from knowledge.service import create_article, publish

    def _make(title, body, visibility="public", locale="ja", publish_it=True):
        with app.app_context():
            article = create_article({"title": title, "body": body, "visibility": visibility, "locale": locale},
                                     Editor())
            if publish_it:
                publish(article, Editor())
            db.session.commit()
            return article.id

    return _make


def search(client, q, **params):
    response = client.get("/api/v1/kb/search", query_string={"q": q, **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@pytest.fixture
def manuals(kb):
    return {
        "invoice": kb("請求書の再発行", "請求書はマイページの「ご請求」から再発行できます。"),
        "returns": kb("返品・交換のご案内", "商品到着後8日以内であれば返品を承ります。"),
        "shipping": kb("配送について", "ご注文から2〜4営業日で配送いたします。"),
        "cancel": kb("解約の手続き", "解約はマイページの契約内容から行えます。"),
        "en_ship": kb("Shipping times", "Orders are shipped within 2-4 business days.", locale="en"),
        "en_refund": kb("Refunds", "We refund returned items after inspection.", locale="en"),
    }


@pytest.mark.parametrize("word, key", [("請求", "invoice"), ("返品", "returns"), ("配送", "shipping"),
                                       ("解約", "cancel"), ("再発行", "invoice"), ("営業日", "shipping"), ("ご請求", "invoice")])
def test_two_character_and_longer_japanese_substrings_are_found(client, login, manuals, word, key):
    login(client, roles="operator")
    ids = [item["id"] for item in search(client, word)]
    assert ids and ids[0] == manuals[key]


def test_a_single_kanji_is_found(client, login, manuals):
    login(client, roles="operator")
    assert manuals["cancel"] in [item["id"] for item in search(client, "約")]


@pytest.mark.parametrize("query, key", [("shipping", "en_ship"), ("ship", "en_ship"), ("shipped", "en_ship"),
                                        ("SHIPS", "en_ship"), ("refunded", "en_refund"), ("refunding", "en_refund"),
                                        ("inspect", "en_refund"), ("Ｓｈｉｐｐｉｎｇ", "en_ship")])
def test_english_word_forms_and_full_width_letters(client, login, manuals, query, key):
    login(client, roles="operator")
    assert [item["id"] for item in search(client, query)][:1] == [manuals[key]]


def test_english_typo_falls_back_to_similar_titles(client, login, manuals):
    login(client, roles="operator")
    assert manuals["en_refund"] in [item["id"] for item in search(client, "refnds")]


def test_title_matches_rank_above_body_matches(client, login, kb):
    login(client, roles="operator")
    body_only = kb("お問い合わせ窓口", "返品については別の記事をご覧ください。返品、返品、返品。")
    in_title = kb("返品の方法", "手順は次のとおりです。")
    assert [item["id"] for item in search(client, "返品")] == [in_title, body_only]
    en_body = kb("Contact us", "For refunds see the refunds article. Refund refund.", locale="en")
    en_title = kb("Refund policy", "How it works.", locale="en")
    assert [item["id"] for item in search(client, "refund")] == [en_title, en_body]


def test_every_term_matches_first_then_any(client, login, kb):
    login(client, roles="operator")
    both = kb("請求書と配送", "請求書を配送します。")
    one = kb("請求書の見方", "明細の説明。")
    assert [item["id"] for item in search(client, "請求書 配送")] == [both, one]


def test_many_matches_rank_title_hits_with_every_term_first(client, login, kb, monkeypatch):
    """More matches than the ranking reads (caps shrunk to stay fast): the title hits that
    have every term still come first, and one lacking a term is not among them."""
    from knowledge import search as kb_search

    monkeypatch.setattr(kb_search, "HEAD_CAP", 2)
    monkeypatch.setattr(kb_search, "CAP", 2)
    login(client, roles="operator")
    lacks_a_term = kb("請求書の見方", "明細の説明。")
    body_only = [kb(f"お知らせ {n}", "請求書を配送します。") for n in range(4)]
    in_title = kb("請求書と配送", "請求書を配送します。")
    ids = [item["id"] for item in search(client, "請求書 配送")]
    assert ids[0] == in_title and ids[-1] == lacks_a_term
    assert ids[1:-1] and set(ids[1:-1]) <= set(body_only)


def test_snippets_highlight_and_escape(client, login, kb):
    login(client, roles="operator")
    kb("危険なタイトル", "`<script>alert(1)</script>` 返品の<b>条件</b>について")
    item = search(client, "返品")[0]
    assert "<mark>返品</mark>" in item["snippet"]
    assert "<script>" not in item["snippet"] and "<b>" not in item["snippet"]
    assert "&lt;script&gt;" in item["snippet"]
    assert set(item) >= {"id", "title", "snippet", "score"}


def test_drafts_archived_and_internal_never_leak_to_the_public(client, login, kb):
    public = kb("返品の公開記事", "返品")
    internal = kb("返品の社内手順", "返品", visibility="internal")
    draft = kb("返品の下書き", "返品", publish_it=False)
    archived = kb("返品の旧記事", "返品")
    login(client, roles="editor")
    assert client.delete(f"/api/v1/kb/articles/{archived}").status_code == 204
    client.post("/api/v1/auth/logout")
    client.csrf_token = None
    assert [i["id"] for i in search(client, "返品")] == [public]  # no login: public only
    login(client, roles="operator")
    assert {i["id"] for i in search(client, "返品")} == {public, internal}
    for hidden in (draft, archived):
        assert hidden not in [i["id"] for i in search(client, "返品")]
    login(client, roles="editor")
    assert {i["id"] for i in search(client, "返品")} == {public, internal}


def test_index_follows_edits_visibility_and_archive(client, login, kb):
    article = kb("配送の案内", "通常配送")
    login(client, roles="editor")
    client.patch(f"/api/v1/kb/articles/{article}", json={"title": "お届けの案内", "body": "宅配便でお届け"})
    assert search(client, "配送") == []
    assert [i["id"] for i in search(client, "宅配")] == [article]
    client.patch(f"/api/v1/kb/articles/{article}", json={"visibility": "internal"})
    client.post("/api/v1/auth/logout")
    client.csrf_token = None
    assert search(client, "宅配") == []
    login(client, roles="editor")
    client.delete(f"/api/v1/kb/articles/{article}")
    assert search(client, "宅配") == []
    client.post(f"/api/v1/kb/articles/{article}/publish", json={})
    assert [i["id"] for i in search(client, "宅配")] == [article]


def test_locale_filter_and_limit(client, login, manuals):
    login(client, roles="operator")
    assert {i["id"] for i in search(client, "ship", locale="en")} == {manuals["en_ship"]}
    assert search(client, "ship", locale="ja") == []
    assert len(search(client, "の", limit=2)) == 2


def test_reindex_rebuilds_the_index(app, client, login, manuals):
    from extensions import db
    from knowledge.search import reindex_all

    with app.app_context():
        assert reindex_all() == len(manuals)
        db.session.commit()
    login(client, roles="operator")
    assert [i["id"] for i in search(client, "解約")] == [manuals["cancel"]]


def test_suggestions_for_a_ticket(app, client, login, manuals):
    from knowledge.suggest import suggest_for_text

    with app.app_context():
        items = suggest_for_text("請求書の宛名を変えたい", "先月分の請求書を会社名で再発行してください。")
        assert items[0]["id"] == manuals["invoice"]
        assert set(items[0]) >= {"id", "title", "snippet", "score", "use_count", "helpful_yes", "url"}
        english = suggest_for_text("Where is my package?", "It was shipped a week ago and has not arrived.", limit=3)
        assert english[0]["id"] == manuals["en_ship"] and len(english) <= 3
        assert suggest_for_text("", "") == []
    login(client, roles="operator")
    response = client.get("/api/v1/kb/suggestions", query_string={"subject": "解約したい", "body": "手続きを教えて"})
    assert response.get_json()["items"][0]["id"] == manuals["cancel"]


def test_query_parsing_splits_japanese_and_stems_english():
    assert [t.key for t in parse_query("パスワードを忘れた")] == ["パスワード", "忘"]
    assert [t.key for t in parse_query("配送状況を確認したい")] == ["配送状況", "確認"]
    assert [t.key for t in parse_query("支払い方法")] == ["支払い方法"]
    assert [t.key for t in parse_query("How do I reset my passwords?")] == ["reset", "password"]
    assert [t.key for t in parse_query("Shipping to 沖縄")] == ["ship", "沖縄"]
    assert parse_query("!!! ???") == []


def test_highlight_maps_full_width_text_back():
    terms = parse_query("ship")
    assert highlight("Ｓｈｉｐｐｉｎｇ is free <b>", terms) == "<mark>Ｓｈｉｐｐｉｎｇ</mark> is free &lt;b&gt;"


def test_highlight_centres_on_the_first_match_of_a_long_body():
    body = "filler words here. " * 400 + "It shipped late; shipping again. " + "番号" * 200
    snippet = highlight(body, parse_query("ship 番号"))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>shipped</mark>" in snippet and "<mark>shipping</mark>" in snippet
    assert "<mark>番号" in snippet and "filler" in snippet
