"""The ticket workspace in a real browser: the customer's profile and history beside the
conversation, and a suggested article inserted into the reply."""
import pytest

from tests.conftest import browser_login, http_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_workspace_shows_customer_and_inserts_a_suggested_article(app, browser, live_server, make_user):
    from customers import service, timeline
    from extensions import db
    from knowledge import demo as kb_demo

    make_user("ws-op", roles="operator", tier=2)
    with app.app_context():
        kb_demo.seed(0)
        customer = service.create({"name": "中村 優子", "name_kana": "ナカムラ ユウコ", "phones": ["03-4444-5555"]})
        customer.rank_override = "gold"
        timeline.record(customer.id, "note", summary="前回: 配送先の変更を受付")
        db.session.commit()
        customer_id = customer.id
    api = http_login(live_server, "ws-op")
    ticket = api.post(f"{live_server}/api/v1/tickets", json={
        "subject": "返品の手続き", "body": "届いた商品を返品したいです", "channel": "email",
        "customer_id": customer_id}).json()
    context, page = browser_login(browser, live_server, "ws-op")
    try:
        page.goto(f"{live_server}/tickets/{ticket['id']}")
        page.wait_for_selector("#ws-name:text('中村 優子')")
        assert page.inner_text("#ws-rank") == "ゴールド"
        page.wait_for_selector("#ws-timeline li:has-text('配送先の変更を受付')")
        page.wait_for_selector("#ws-suggestions li button")
        first_title = page.inner_text("#ws-suggestions li a >> nth=0")
        assert "返品" in first_title
        page.click("#ws-suggestions li button >> nth=0")
        assert first_title in page.input_value("#body")
    finally:
        context.close()
