"""XSS payloads in every text field people or mail can fill, opened in a real Chromium on
every page that shows them (issue 8 "Hostile input"): no dialog fires, the page holds no
injected script, event handler or ``javascript:`` link, and typed text shows as the
literal text that was typed.  The CSP (no inline script) is a second wall; these checks
look at the DOM, so an escaping bug fails them even though the CSP would block it."""
from __future__ import annotations

import pytest

from tests.conftest import browser_login, http_login

pytestmark = [pytest.mark.browser, pytest.mark.processes]

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SVG = '"><svg onload=alert(1)>'
ATTR = "' onmouseover='alert(1)"
LINK = "javascript:alert(1)"

# Text the DOM must not contain after rendering: live script, handlers, script URLs.
INJECTED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const value = attr.value.trim().toLowerCase();
      if (attr.name.startsWith('on')) bad.push(el.tagName + ' ' + attr.name);
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(attr.name)
          && value.startsWith('javascript:')) bad.push(el.tagName + ' ' + attr.name + '=' + value);
    }
  }
  for (const script of document.querySelectorAll('script')) {
    if (!script.src && script.type !== 'application/json') bad.push('inline script: ' + script.textContent.slice(0, 60));
  }
  for (const el of document.querySelectorAll('svg, iframe, object, embed')) bad.push(el.tagName);
  return bad;
}"""


def _mail(ticket_id: int, sender: str) -> bytes:
    html = (f"<p>メール本文 MAILMARK</p>{SCRIPT}{IMG}<svg onload=alert(1)></svg>"
            f"<a href=\"{LINK}\">link</a><iframe src=\"{LINK}\"></iframe>"
            "<form action=\"javascript:alert(1)\"><button>go</button></form>")
    return (f"From: =?utf-8?B?PHNjcmlwdD4=?= <{sender}>\r\nTo: support@support.example.test\r\n"
            f"Subject: Re: [#{ticket_id}] {SVG}\r\nMessage-ID: <xss.{ticket_id}@example.jp>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()


def _setup(app, live_server, make_user, run_jobs) -> dict:
    """A customer, an email ticket, an inbound HTML mail, a Markdown reply and a public KB
    article, every text field carrying a payload."""
    make_user("xss-op", roles="operator,supervisor,editor", tier=3)
    api = http_login(live_server, "xss-op")
    customer = api.post(f"{live_server}/api/v1/customers", json={
        "name": f"NAMEMARK{IMG}", "name_kana": f"KANAMARK{SCRIPT}", "company": f"COMPANYMARK{SVG}",
        "emails": ["xss@example.jp"], "tags": [f"TAGMARK{ATTR}"[:40]]})
    assert customer.status_code == 201, customer.text
    customer = customer.json()
    ticket = api.post(f"{live_server}/api/v1/tickets", json={
        "subject": f"SUBJECTMARK{SVG}{SCRIPT}", "body": f"BODYMARK{IMG}", "channel": "email",
        "customer_id": customer["id"]})
    assert ticket.status_code == 201, ticket.text
    ticket = ticket.json()
    api.patch(f"{live_server}/api/v1/tickets/{ticket['id']}", json={"assignee_id": api.get(
        f"{live_server}/api/v1/me").json()["id"], "version": ticket["version"]}).raise_for_status()
    reply = (f"REPLYMARK {IMG}\n\n[click]({LINK}) <a href=\"{LINK}\">raw</a>\n\n"
             f"![x]({LINK})\n\n{SCRIPT}\n\n<div onmouseover=\"alert(1)\">hover</div>")
    assert api.post(f"{live_server}/api/v1/tickets/{ticket['id']}/messages",
                    json={"body": reply, "kind": "reply"}).status_code == 201
    assert api.post(f"{live_server}/api/v1/tickets/{ticket['id']}/messages",
                    json={"body": f"NOTEMARK{SVG}", "kind": "note"}).status_code == 201
    with app.app_context():
        from tickets.mail.inbound import store

        store(_mail(ticket["id"], "xss@example.jp"), "xss@example.jp", ["support@support.example.test"])
    run_jobs()
    article = api.post(f"{live_server}/api/v1/kb/articles", json={
        "title": f"KBTITLEMARK{SVG}", "visibility": "public", "locale": "ja",
        "body": f"# KBBODYMARK\n\n{SCRIPT}\n\n{IMG}\n\n[link]({LINK})\n\n<a href=\"{LINK}\">raw</a>\n\n"
                f"![img]({LINK})\n\n<svg onload=alert(1)></svg>"})
    assert article.status_code == 201, article.text
    article = article.json()
    assert api.post(f"{live_server}/api/v1/kb/articles/{article['id']}/publish", json={}).status_code == 200
    return {"customer": customer["id"], "ticket": ticket["id"], "article": article["id"]}


def _check(page, url: str, marks: list[str], literal: list[str], dialogs: list) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    for mark in marks:
        page.wait_for_function("m => document.body.innerText.includes(m)", arg=mark, timeout=15000)
    page.mouse.move(5, 5)
    page.hover("body")
    assert page.evaluate(INJECTED) == [], url
    text = page.evaluate("() => document.body.innerText")
    for payload in literal:
        assert payload in text, (url, payload)
    assert dialogs == [], (url, dialogs)


def test_payloads_are_inert_on_every_page(app, browser, live_server, make_user, run_jobs):
    ids = _setup(app, live_server, make_user, run_jobs)
    context, page = browser_login(browser, live_server, "xss-op")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        _check(page, f"{live_server}/customers/{ids['customer']}", ["NAMEMARK", "KANAMARK", "COMPANYMARK"],
               [f"NAMEMARK{IMG}", f"KANAMARK{SCRIPT}", f"COMPANYMARK{SVG}"], dialogs)
        _check(page, f"{live_server}/customers?q=NAMEMARK", ["NAMEMARK"], [f"NAMEMARK{IMG}"], dialogs)
        _check(page, f"{live_server}/tickets", ["SUBJECTMARK"], [f"SUBJECTMARK{SVG}{SCRIPT}"], dialogs)
        _check(page, f"{live_server}/tickets/{ids['ticket']}",
               ["SUBJECTMARK", "NAMEMARK", "REPLYMARK", "NOTEMARK", "MAILMARK", "BODYMARK"],
               [f"SUBJECTMARK{SVG}{SCRIPT}", f"NOTEMARK{SVG}", f"BODYMARK{IMG}"], dialogs)
        _check(page, f"{live_server}/console", ["SUBJECTMARK"], [], dialogs)
        _check(page, f"{live_server}/kb/articles/{ids['article']}", ["KBBODYMARK"], [], dialogs)
        assert f"KBTITLEMARK{SVG}" in page.input_value("[data-testid=kb-title]")
        context.clear_cookies()  # the help center is public
        _check(page, f"{live_server}/help/articles/{ids['article']}", ["KBTITLEMARK", "KBBODYMARK"],
               [f"KBTITLEMARK{SVG}"], dialogs)
        _check(page, f"{live_server}/help?q=KBTITLEMARK", ["KBTITLEMARK"], [f"KBTITLEMARK{SVG}"], dialogs)
    finally:
        context.close()
