"""The one sanitiser (CONTRACT §7)."""
from core.sanitize import clean_mail_html, html_to_text, render_markdown

PAYLOADS = [
    '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '<a href="javascript:alert(1)">x</a>',
    '<svg onload=alert(1)>', '<iframe src="https://evil"></iframe>', '<div style="background:url(javascript:x)">',
    '<form action="https://evil"><input name=p></form>', '<a href="JaVaScRiPt:alert(1)">y</a>',
]


def test_mail_html_strips_every_active_content():
    for payload in PAYLOADS:
        cleaned = clean_mail_html(f"<p>hi</p>{payload}").lower()
        for needle in ("<script", "onerror", "onload", "javascript:", "<iframe", "<form", "style="):
            assert needle not in cleaned, (payload, cleaned)


def test_remote_images_blocked_by_default_and_cid_kept():
    cleaned = clean_mail_html('<img src="https://tracker.example/p.gif"><img src="cid:logo@x">')
    assert "tracker.example" not in cleaned and "cid:logo@x" in cleaned
    assert "tracker.example" in clean_mail_html('<img src="https://tracker.example/p.gif">', allow_remote_images=True)


def test_links_get_safe_rel():
    assert 'rel="noopener noreferrer nofollow"' in clean_mail_html('<a href="https://example.com">x</a>')


def test_markdown_renders_and_neutralises_html():
    out = render_markdown("# 配送について\n\n**太字** [link](https://example.com)\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))")
    assert "<h1>配送について</h1>" in out and "<strong>太字</strong>" in out
    assert "<script>" not in out and "href=\"javascript" not in out
    assert "&lt;script&gt;" in out


def test_markdown_tables():
    out = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<table>" in out and "<td>1</td>" in out


def test_html_to_text():
    assert html_to_text("<p>こんにちは</p><p>line&amp;2<br>three</p><script>x()</script>") == "こんにちは\nline&2\nthree"
