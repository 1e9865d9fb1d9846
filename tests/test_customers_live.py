"""Real processes: a rank recompute run by a real RQ worker, and the customer pages in a
real Chromium against a real web process (gunicorn)."""
import os
import re
import signal
import time

import pytest

from tests.conftest import PASSWORD


def _seed(app, count=40):
    from customers import demo
    from extensions import db

    with app.app_context():
        demo.seed(count)
        db.session.commit()


def _stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


@pytest.mark.processes
def test_rank_recompute_runs_on_a_real_worker(app, client, login, processes):
    from sqlalchemy import update

    from customers.models import Customer
    from extensions import db

    _seed(app)
    with app.app_context():  # spoil the ranks so the job has something to fix
        db.session.execute(update(Customer).values(rank_computed="new", r_score=None, f_score=None, m_score=None))
        db.session.commit()
    login(client, roles="supervisor")
    assert client.get("/api/v1/analytics/rfm").get_json()["ranks"]["new"] > 30
    worker = processes.worker()
    try:
        job_id = client.post("/api/v1/analytics/ranks/recompute").get_json()["job_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = client.get(f"/api/v1/jobs/{job_id}").get_json()
            if job["status"] in ("finished", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "finished", job
        assert job["progress"] == 1.0 and job["result"]["customers_scored"] > 0
        ranks = client.get("/api/v1/analytics/rfm").get_json()["ranks"]
        assert all(ranks[r] > 0 for r in ("platinum", "gold", "silver", "bronze", "new")), ranks
    finally:
        _stop(worker)


@pytest.mark.browser
def test_customer_pages_in_a_browser(app, browser, live_server, make_user, tmp_path):
    from playwright.sync_api import expect

    from customers import service

    _seed(app)
    _, username = make_user("browser-sup", roles="supervisor", name="監督 花子")
    with app.app_context():
        yamada = service.lookup(phone="03-1234-5678")
        yamada_id = yamada.id
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    # One shared Chromium (conftest ``browser``); this test uses its own context.
    try:
        page = context.new_page()
        page.goto(f"{live_server}/login?next=/customers")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/customers"))
        page.fill("[data-testid=customer-search]", "やまだ たろう")
        page.press("[data-testid=customer-search]", "Enter")
        expect(page.locator("[data-testid=customer-list]")).to_contain_text("山田 太郎")
        page.screenshot(path=str(tmp_path / "customers.png"))
        page.click("text=山田 太郎")
        page.wait_for_url(re.compile(rf"/customers/{yamada_id}$"))
        expect(page.locator("[data-testid=customer-name]")).to_have_text("山田 太郎")
        expect(page.locator(".rankbox [data-testid=rank-badge]")).to_be_visible()
        # The timeline loads through the API (purchases are on it).
        expect(page.locator("[data-testid=timeline] li").first).to_be_visible()
        assert page.locator("[data-testid=timeline] .tl-purchase").count() > 0
        page.fill("[data-testid=note-body]", "ブラウザからのメモ：折り返し希望")
        page.click("[data-testid=note-submit]")
        expect(page.locator("[data-testid=timeline] li").first).to_contain_text("ブラウザからのメモ")
        page.select_option("[data-testid=rank-override]", "gold")
        page.wait_for_load_state("load")
        expect(page.locator(".rankbox [data-testid=rank-badge]")).to_have_attribute("data-rank", "gold")
        page.screenshot(path=str(tmp_path / "customer.png"), full_page=True)
        assert os.path.getsize(tmp_path / "customer.png") > 10000
    finally:
        context.close()
    with app.app_context():
        from customers import service

        customer = service.get(yamada_id)
        assert customer.rank_override == "gold"
