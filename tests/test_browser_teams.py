"""Teams in a real browser: an admin creates a team on /admin and adds an operator; that
operator's "My team's" tab then lists a teammate's ticket (and not a stranger's)."""
import pytest

from tests.conftest import browser_login, http_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_admin_builds_a_team_and_the_operator_sees_a_teammates_ticket(app, browser, live_server, make_user):
    from customers import service as customers
    from extensions import db
    from tickets import service

    make_user("teams-admin", roles="admin")
    operator_id, _ = make_user("teams-op", name="担当 一郎")
    mate_id, _ = make_user("teams-mate", name="同僚 二郎")
    stranger_id, _ = make_user("teams-stranger", name="他部署 三郎")
    with app.app_context():
        customer = customers.create({"name": "チーム 顧客"})
        tickets = {}
        for name, assignee in (("mate", mate_id), ("stranger", stranger_id)):
            ticket = service.open_ticket(customer, subject=f"{name}の件", channel="web")
            ticket.assignee_id, ticket.status = assignee, "open"
            tickets[name] = ticket.id
        db.session.commit()

    context, page = browser_login(browser, live_server, "teams-admin")
    try:
        page.goto(f"{live_server}/admin")
        page.fill("#team-form input[name=name]", "請求チーム")
        page.fill("#team-form input[name=description]", "請求と返金")
        page.check("#team-form input[data-username='teams-mate']")
        page.click("#team-form button[type=submit]")
        row = "#teams tr[data-team='請求チーム']"
        page.wait_for_selector(f"{row} input[data-username='teams-mate']:checked")
        page.check(f"{row} input[data-username='teams-op']")
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/api/v1/teams/" in r.url) as saved:
            page.click(f"{row} button.save-team")
        assert saved.value.status == 200
    finally:
        context.close()
    team = http_login(live_server, "teams-op").get(f"{live_server}/api/v1/teams").json()["items"][0]
    assert team["name"] == "請求チーム" and team["member_ids"] == sorted([operator_id, mate_id])
    assert team["version"] == 2

    context, page = browser_login(browser, live_server, "teams-op")
    try:
        page.goto(f"{live_server}/tickets")
        page.click("[data-testid=tab-team]")
        page.wait_for_selector(f"#rows tr[data-ticket-id='{tickets['mate']}']")
        assert page.locator("[data-testid=tab-team]").inner_text() == "チームの担当"
        assert page.locator(f"#rows tr[data-ticket-id='{tickets['stranger']}']").count() == 0
        assert "同僚 二郎" in page.locator(f"#rows tr[data-ticket-id='{tickets['mate']}']").inner_text()
    finally:
        context.close()
