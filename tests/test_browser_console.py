"""The operator console in a real browser: screen pop, offers moving on reject, the call
on the timeline and in "my recent contacts" after hangup, the after-call summary, an
unknown caller created from the pop."""
import time

import pytest
import requests

from tests.conftest import browser_login, http_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


@pytest.fixture
def cti_url(app, live_server):
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token("pbx-browser", "cti")
        db.session.commit()
    return f"{live_server}/api/v1/cti/{raw}"


def make_platinum(app, phone="03-5555-0101"):
    from customers import service
    from extensions import db

    with app.app_context():
        customer = service.create({"name": "高橋 美咲", "name_kana": "タカハシ ミサキ", "phones": [phone]})
        customer.rank_override = "platinum"
        db.session.commit()
        return customer.id


def go_available(page):
    page.wait_for_selector("#conn.conn-on")
    page.click("button[data-presence=available]")
    page.wait_for_selector("button[data-presence=available][aria-checked=true]")


def test_pop_within_a_second_then_reject_moves_offer_and_hangup_lands_on_timeline(
        app, browser, live_server, cti_url, make_user):
    make_user("pop-senior", roles="operator", tier=3, extension="301", name="上級 先輩")
    make_user("pop-second", roles="operator", tier=3, extension="302", name="上級 後輩")
    customer = make_platinum(app)
    first_ctx, first = browser_login(browser, live_server, "pop-senior")
    second_ctx, second = browser_login(browser, live_server, "pop-second")
    try:
        go_available(first)
        time.sleep(0.3)  # the first operator is the longest idle
        go_available(second)
        started = time.monotonic()
        answer = requests.post(cti_url, data={"event": "newCall", "from": "0355550101", "to": "100",
                                              "direction": "in", "callId": "br-1"}).json()
        assert answer["action"] == "dial" and answer["user"] == "pop-senior"
        first.wait_for_selector("#pop:not([hidden]) [data-testid=pop-name]:text('高橋 美咲')", timeout=1000)
        assert time.monotonic() - started < 1.5
        assert first.inner_text("[data-testid=pop-rank]") == "プラチナ"
        assert first.get_attribute("[data-testid=pop-rank]", "data-rank") == "platinum"
        first.wait_for_selector("[data-testid=offer]:not([hidden])")

        # Reject with the keyboard: the call is offered and popped to the second operator.
        first.keyboard.press("Escape")
        second.wait_for_selector("[data-testid=offer]:not([hidden])", timeout=3000)
        second.wait_for_selector("#pop:not([hidden]) [data-testid=pop-name]:text('高橋 美咲')", timeout=3000)
        repeat = requests.post(cti_url, data={"event": "newCall", "from": "0355550101", "to": "100",
                                              "direction": "in", "callId": "br-1"}).json()
        assert repeat["user"] == "pop-second"

        second.click("[data-testid=offer-accept]")
        second.wait_for_selector("[data-testid=offer]", state="hidden")
        requests.post(cti_url, data={"event": "answer", "callId": "br-1", "user": "302"})
        requests.post(cti_url, data={"event": "hangup", "callId": "br-1", "cause": "normalClearing"})
        second.wait_for_selector("[data-testid=presence-now]:text('後処理')", timeout=3000)
        timeline = http_login(live_server, "pop-second").get(
            f"{live_server}/api/v1/customers/{customer}/timeline").json()["items"]
        assert any(item["kind"] == "call" for item in timeline)
        # The call heads "my recent contacts" (refreshed on wrap-up), then the after-call summary.
        contact = "[data-testid=recent-contacts] li"
        second.wait_for_selector(f"{contact}:first-child:has-text('高橋 美咲'):has-text('通話')", timeout=3000)
        assert second.get_attribute(f"{contact} a.contact-name", "href") == f"/customers/{customer}"
        second.fill("#wrapup textarea[name=summary]", "配送日の変更を受付")
        second.click("#wrapup button[type=submit]")
        second.wait_for_selector(f"{contact}:first-child:has-text('配送日の変更を受付')", timeout=3000)
    finally:
        first_ctx.close()
        second_ctx.close()


def test_unknown_caller_is_created_from_the_pop(app, browser, live_server, cti_url, make_user):
    make_user("pop-new", roles="operator", tier=1, extension="310")
    context, page = browser_login(browser, live_server, "pop-new")
    try:
        go_available(page)
        requests.post(cti_url, data={"event": "newCall", "from": "090-7777-1234", "to": "100",
                                     "direction": "in", "callId": "br-unknown"})
        page.wait_for_selector("#pop-unknown:not([hidden])", timeout=3000)
        page.fill("#pop-create input[name=name]", "新規 顧客")
        page.fill("#pop-create input[name=name_kana]", "シンキ コキャク")
        page.click("[data-testid=pop-create]")
        page.wait_for_selector("[data-testid=pop-name]:text('新規 顧客')", timeout=3000)
        found = http_login(live_server, "pop-new").get(f"{live_server}/api/v1/customers/lookup",
                                                      params={"phone": "09077771234"}).json()
        assert found["name"] == "新規 顧客" and "unidentified" not in found["tags"]
    finally:
        context.close()
