"""The supervisor board updates live in a real browser: queue_stats pushed by a real
worker process, presence changed from the board."""
import pytest

from tests.conftest import browser_login, http_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_board_shows_new_waiting_work_live_and_changes_presence(app, browser, live_server, processes, make_user):
    from customers import service
    from extensions import db

    make_user("board-sup", roles="supervisor", name="監督 次郎")
    make_user("board-op", roles="operator", tier=2, name="担当 三郎")  # gold mail: tier ≥ 2 first
    with app.app_context():
        customer = service.create({"name": "伊藤 健太"})
        customer.rank_override = "gold"
        db.session.commit()
        customer_id = customer.id
    worker = processes.worker()
    context, page = browser_login(browser, live_server, "board-sup")
    try:
        page.goto(f"{live_server}/supervisor")
        page.wait_for_selector("#conn.conn-on")
        page.wait_for_selector("#kpi-waiting:text('0')")
        api = http_login(live_server, "board-sup")
        created = api.post(f"{live_server}/api/v1/tickets", json={"subject": "至急", "body": "連絡ください",
                                                                  "channel": "email", "customer_id": customer_id})
        assert created.status_code == 201, created.text
        # Nobody is available: the ticket waits, and the board shows it without a reload.
        page.wait_for_selector("#queues tr[data-rank='gold'][data-channel='email'] .waiting:text('1')", timeout=10000)
        assert page.inner_text("#kpi-waiting") == "1"
        # The supervisor makes the operator available from the board; the ticket is assigned.
        page.select_option("#operators tr[data-username='board-op'] select", "available")
        page.wait_for_selector("#operators tr[data-username='board-op'][data-presence='available']", timeout=5000)
        page.wait_for_selector("#kpi-waiting:text('0')", timeout=15000)
        ticket = api.get(f"{live_server}/api/v1/tickets/{created.json()['id']}").json()
        assert ticket["assignee_id"] is not None
    finally:
        context.close()
        worker.terminate()
        worker.wait(10)
