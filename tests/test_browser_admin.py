"""The /admin page in a real browser: an admin blocks a number and the CTI webhook rejects it."""
import pytest
import requests

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_admin_blocks_a_number_and_calls_from_it_are_rejected(app, browser, live_server, make_user):
    from accounts.service import create_token
    from extensions import db

    make_user("admin-b", roles="admin")
    with app.app_context():
        _, token = create_token("pbx-admin", "cti")
        db.session.commit()
    context, page = browser_login(browser, live_server, "admin-b")
    try:
        page.goto(f"{live_server}/admin")
        page.fill("#blocked-form input[name=number]", "０３−９８７６−５４３２")
        page.fill("#blocked-form input[name=note]", "いたずら電話")
        page.click("#blocked-form button[type=submit]")
        page.wait_for_selector("#blocked tr[data-number='+81398765432']")
        answer = requests.post(f"{live_server}/api/v1/cti/{token}", data={
            "event": "newCall", "from": "0398765432", "to": "100", "direction": "in", "callId": "blk-1"}).json()
        assert answer == {"action": "reject", "reason": "busy"}
        page.click("#blocked tr[data-number='+81398765432'] button")
        page.wait_for_selector("#blocked tr[data-number='+81398765432']", state="detached")
    finally:
        context.close()
