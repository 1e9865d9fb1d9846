"""A real browser: log in, toggle presence in the console, and see it change live on the
supervisor board open in a second browser context."""
import pytest

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_presence_toggle_shows_live_on_supervisor_board(browser, live_server, make_user):
    make_user("b-op", roles="operator", name="ブラウザ 太郎", tier=2)
    make_user("b-sup", roles="supervisor", name="監督 花子")
    op_context, op_page = browser_login(browser, live_server, "b-op")
    sup_context, sup_page = browser_login(browser, live_server, "b-sup")
    try:
        assert op_page.url.endswith("/console")
        assert op_page.inner_text("[data-testid=operator-name]") == "ブラウザ 太郎"
        op_page.wait_for_selector("#conn.conn-on")

        sup_page.goto(f"{live_server}/supervisor")
        sup_page.wait_for_selector("#conn.conn-on")
        row = "#operators tr[data-username='b-op']"
        sup_page.wait_for_selector(f"{row}[data-presence='offline']")

        op_page.click("button[data-presence=available]")
        op_page.wait_for_selector("button[data-presence=available][aria-checked=true]")
        assert op_page.inner_text("[data-testid=presence-now]") == "対応可"
        sup_page.wait_for_selector(f"{row}[data-presence='available']", timeout=5000)
        assert sup_page.inner_text(f"{row} .presence-pill") == "対応可"

        # Keyboard: Alt+3 is "away".
        op_page.keyboard.press("Alt+3")
        sup_page.wait_for_selector(f"{row}[data-presence='away']", timeout=5000)
    finally:
        op_context.close()
        sup_context.close()


def test_english_browser_gets_english_console(browser, live_server, make_user):
    make_user("b-en", roles="operator")
    context, page = browser_login(browser, live_server, "b-en", locale="en-US")
    try:
        assert page.inner_text("button[data-presence=available]") == "Available"
    finally:
        context.close()
