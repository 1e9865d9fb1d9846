"""A real browser: an editor writes an article, revises it, compares the revisions,
restores the first one and publishes it; the public help center then shows it."""
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_editor_writes_revises_diffs_restores_and_publishes(browser, live_server, make_user, tmp_path):
    make_user("kb-editor", roles="editor", name="編集 花子")
    context, page = browser_login(browser, live_server, "kb-editor")
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        assert page.url.endswith("/kb")
        page.click("[data-testid=kb-new]")
        page.fill("[data-testid=kb-title]", "配送料について")
        page.fill("[data-testid=kb-body]", "# 配送料\n\n全国一律**600円**です。")
        page.wait_for_selector("[data-testid=kb-preview] h1:has-text('配送料')")
        assert page.inner_html("[data-testid=kb-preview]").count("<strong>600円</strong>") == 1
        page.select_option("[data-testid=kb-visibility]", "public")
        page.fill("[data-testid=kb-note]", "初版")
        page.click("[data-testid=kb-save]")
        page.wait_for_selector("[data-testid=kb-status]:has-text('保存しました')")
        page.wait_for_url(re.compile(r"/kb/articles/\d+$"))
        article_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector("[data-testid=kb-revisions] tr[data-rev='1']")

        # A second revision.
        page.fill("[data-testid=kb-body]", "# 配送料\n\n全国一律**800円**です。\n\n沖縄・離島は1,200円です。")
        page.fill("[data-testid=kb-note]", "値上げ")
        page.click("[data-testid=kb-save]")
        page.wait_for_selector("[data-testid=kb-revisions] tr[data-rev='2']")
        assert page.inner_text("[data-testid=kb-state]") == "下書き"

        # Compare 1 → 2 (the two newest are preselected).
        page.click("[data-testid=kb-compare]")
        page.wait_for_selector("[data-testid=kb-diff] .diff-insert")
        inserted = " ".join(page.locator("[data-testid=kb-diff] .diff-insert").all_inner_texts())
        deleted = " ".join(page.locator("[data-testid=kb-diff] .diff-delete").all_inner_texts())
        assert "800" in inserted and "沖縄" in inserted and "600" in deleted
        assert page.locator("[data-testid=kb-diff] .diff-insert ins").count() >= 1  # characters inside the line

        # Restore revision 1 as revision 3.
        page.click("[data-testid=kb-restore][data-rev='1']")
        page.wait_for_selector("[data-testid=kb-revisions] tr[data-rev='3']")
        assert "600円" in page.input_value("[data-testid=kb-body]")
        assert "1,200" not in page.input_value("[data-testid=kb-body]")
        page.wait_for_selector("[data-testid=kb-preview] strong:has-text('600円')")

        # Publish.
        page.click("[data-testid=kb-publish]")
        page.wait_for_selector("[data-testid=kb-state]:has-text('公開中')")
        page.screenshot(path=str(tmp_path / "kb.png"), full_page=True)
        item = page.locator(f"[data-testid=kb-item][data-id='{article_id}']")
        expect(item).to_contain_text("公開中")  # the list refreshes after the editor
    finally:
        context.close()

    # The public help center shows the restored, published text — without login.
    visitor = browser.new_context(locale="ja-JP")
    try:
        help_page = visitor.new_page()
        help_page.goto(f"{live_server}/help/articles/{article_id}")
        text = help_page.inner_text("[data-testid=help-article]")
        assert "600円" in text and "800円" not in text
        help_page.goto(f"{live_server}/help?q=配送")
        assert help_page.locator("[data-testid=help-results] mark").first.inner_text() == "配送"
        help_page.screenshot(path=str(tmp_path / "help.png"), full_page=True)
    finally:
        visitor.close()


def test_stale_autosave_shows_who_changed_the_article(browser, live_server, make_user):
    from tests.conftest import http_login

    make_user("kb-ed-a", roles="editor", name="編集 一郎")
    make_user("kb-ed-b", roles="editor", name="校正 二郎")
    session = http_login(live_server, "kb-ed-b")
    created = session.post(f"{live_server}/api/v1/kb/articles", json={"title": "競合テスト", "body": "最初"}).json()
    context, page = browser_login(browser, live_server, "kb-ed-a")
    try:
        page.goto(f"{live_server}/kb/articles/{created['id']}")
        page.wait_for_selector("[data-testid=kb-revisions] tr[data-rev='1']")
        # Someone else saves in the meantime.
        assert session.patch(f"{live_server}/api/v1/kb/articles/{created['id']}",
                             json={"body": "二郎の変更", "version": 1}).status_code == 200
        page.fill("[data-testid=kb-body]", "一郎の変更")
        page.click("[data-testid=kb-save]")
        page.wait_for_selector("[data-testid=kb-conflict]:has-text('校正 二郎')")
    finally:
        context.close()
