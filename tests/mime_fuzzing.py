"""Hostile inbound mail for fuzzing the parser (tickets/mail/parse.py): arbitrary bytes and
structured-but-broken MIME (mixed Japanese charsets, broken encoded words and boundaries,
deep nesting, huge headers, bad base64 / quoted-printable, missing headers), and the
properties every parse must keep so the result can be stored and shown.  Shared by
tests/test_mime_fuzz.py (seconds) and bench/fuzz_mime.py (minutes)."""
from __future__ import annotations

import base64
import quopri
from html.parser import HTMLParser

from hypothesis import strategies as st

JAPANESE = "お問い合わせ①②髙﨑〜－∥¬ｶﾅ荷物が届きません。配送状況を教えてください"
CHARSETS = ["iso-2022-jp", "shift_jis", "cp932", "euc-jp", "utf-8", "iso-2022-jp-2", "us-ascii",
            "x-unknown", "utf-7", "bogus-charset", "", "windows-31j", "utf-16", "ISO-2022-JP\"", "latin-1"]
ENCODINGS = ["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "bogus", ""]
# Columns the parsed fields end up in (tickets/models.py).
LIMITS = {"subject": 500, "from_address": 320, "from_name": 200, "charset": 40, "message_id": 500,
          "filename": 255, "content_type": 120, "content_id": 255}

texts = st.text(alphabet=st.sampled_from(JAPANESE + "abcXYZ <>@\"=?_\t\r\n\x00\x1b;:,.\\"), max_size=60)


def _encode(text: str, charset: str) -> bytes:
    codec = {"iso-2022-jp": "iso2022_jp_ext", "shift_jis": "cp932", "windows-31j": "cp932",
             "iso-2022-jp-2": "iso2022_jp_2", "utf-7": "utf-7", "utf-16": "utf-16"}.get(charset, charset)
    try:
        return text.encode(codec or "utf-8", errors="replace")
    except LookupError:
        return text.encode("utf-8")


@st.composite
def mixed_bytes(draw) -> bytes:
    """Text in one charset, sometimes cut mid-character or spliced with another charset."""
    text = draw(texts)
    data = _encode(text, draw(st.sampled_from(CHARSETS)))
    if draw(st.booleans()):
        data += _encode(draw(texts), draw(st.sampled_from(CHARSETS)))
    if data and draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return data


@st.composite
def encoded_word(draw) -> bytes:
    charset = draw(st.sampled_from(CHARSETS))
    data = draw(mixed_bytes())
    if draw(st.booleans()):
        payload = base64.b64encode(data)
        if draw(st.booleans()):  # broken padding / alphabet
            payload = payload[:draw(st.integers(0, len(payload)))] + draw(st.sampled_from([b"", b"!", b"=", b"*"]))
        return b"=?" + charset.encode() + b"?B?" + payload + b"?="
    payload = quopri.encodestring(data, header=True).replace(b"\n", b"")
    if draw(st.booleans()):
        payload += draw(st.sampled_from([b"=Z", b"=", b"?", b"=E3=81"]))
    return b"=?" + charset.encode() + b"?" + draw(st.sampled_from([b"Q", b"q", b"X"])) + b"?" + payload + b"?="


@st.composite
def header_value(draw) -> bytes:
    parts = draw(st.lists(st.one_of(encoded_word(), mixed_bytes(), st.binary(max_size=20)), max_size=4))
    value = b" ".join(parts)
    if draw(st.integers(0, 20)) == 0:  # a huge header, folded or not
        value = value * draw(st.integers(100, 2000)) + draw(st.sampled_from([b"", b"\r\n "]))
    return value


ADDRESSES = [b"taro@example.jp", b"<taro@example.jp>", b"\"\x8e\x52\x93\x63\" <taro@example.jp>", b"", b"<>",
             b"undisclosed-recipients:;", b"a@b@c", b"=?iso-2022-jp?B?GyRCOzNFRBsoQg==?= <t@example.jp>",
             b"MAILER-DAEMON@example.jp", b"support@support.example.test", b"@", b"<<>>"]


@st.composite
def headers(draw, *, content_type: bytes | None) -> bytes:
    lines = []
    for name in (b"From", b"To", b"Subject", b"Message-ID", b"In-Reply-To", b"References", b"Date"):
        if draw(st.integers(0, 4)) == 0:
            continue  # a missing header
        if name in (b"From", b"To"):
            value = draw(st.one_of(st.sampled_from(ADDRESSES), header_value()))
        elif name == b"Date":
            value = draw(st.sampled_from([b"Mon, 3 Nov 2025 10:00:00 +0900", b"3 Nov 2025 10:00", b"yesterday",
                                          b"Mon, 32 Foo 99999 99:99:99 +9999", b""]))
        elif name in (b"Message-ID", b"In-Reply-To", b"References"):
            value = draw(st.sampled_from([b"<a@b>", b"<" + b"x" * 600 + b"@b>", b"no brackets", b"<>", b"< a b >"]))
        else:
            value = draw(header_value())
        lines.append(name + b": " + value)
    for _ in range(draw(st.integers(0, 2))):
        lines.append(draw(st.sampled_from([b"Auto-Submitted", b"Precedence", b"X-Bogus", b"Content-ID"]))
                     + b": " + draw(header_value()))
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    lines.append(b"MIME-Version: " + draw(st.sampled_from([b"1.0", b"", b"2.0 (broken)"])))
    separator = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return separator.join(lines) + separator + separator


@st.composite
def leaf(draw) -> tuple[bytes, bytes, bytes]:
    """(Content-Type value, other part headers, body) of a single part."""
    subtype = draw(st.sampled_from([b"text/plain", b"text/html", b"application/octet-stream", b"image/png",
                                    b"message/rfc822", b"text/", b"bogus", b"message/delivery-status"]))
    charset = draw(st.sampled_from(CHARSETS)).encode()
    params = b"; charset=" + charset
    if draw(st.booleans()):
        params += b"; name=" + draw(st.one_of(encoded_word(), st.sampled_from([b"\"../../etc/passwd\"", b"\"\"",
                                                                               b"\"a\x00b.txt\"", b"x" * 400])))
    body = draw(mixed_bytes())
    if subtype == b"text/html":
        body = draw(st.sampled_from([b"<script>alert(1)</script>", b"<p onclick=x>", b"<img src=x onerror=alert(1)>",
                                     b"<!--", b"<a href='javascript:alert(1)'>"])) + body
    encoding = draw(st.sampled_from(ENCODINGS)).encode()
    if encoding == b"base64":
        body = base64.encodebytes(body)
        if draw(st.booleans()):
            body = body[:draw(st.integers(0, len(body)))] + b"!!*="
    elif encoding == b"quoted-printable":
        body = quopri.encodestring(body) + draw(st.sampled_from([b"", b"=", b"=ZZ", b"=E3"]))
    head = b"Content-Transfer-Encoding: " + encoding + b"\r\n" if encoding else b""
    disposition = draw(st.sampled_from([b"", b"Content-Disposition: attachment\r\n",
                                        b"Content-Disposition: inline; filename*=utf-8''%E3%81%82%ZZ\r\n"]))
    return subtype + params, head + disposition, body


@st.composite
def mime_part(draw, depth: int = 0) -> bytes:
    """A part (headers and body): a leaf or a multipart, nested up to a depth, with boundaries
    that sometimes do not match what the body uses or are never closed."""
    if depth >= 6 or draw(st.integers(0, 2)) == 0:
        content_type, head, body = draw(leaf())
        return b"Content-Type: " + content_type + b"\r\n" + head + b"\r\n" + body
    boundary = draw(st.sampled_from([b"b1", b"=_boundary", b"", b"a" * 100, b"\"quoted\"", b"sp ace"]))
    used = boundary.strip(b"\"") if draw(st.integers(0, 3)) else b"other"
    children = draw(st.lists(mime_part(depth=depth + 1), max_size=3))
    body = b"preamble\r\n" + b"".join(b"--" + used + b"\r\n" + child + b"\r\n" for child in children)
    if draw(st.booleans()):
        body += b"--" + used + b"--\r\n"
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"signed"]))
    return b"Content-Type: multipart/" + subtype + b"; boundary=" + boundary + b"\r\n\r\n" + body


@st.composite
def deep_nesting(draw) -> bytes:
    """Multipart or message/rfc822 nested hundreds of levels deep."""
    depth = draw(st.integers(50, 400))
    kind = draw(st.sampled_from(["multipart", "rfc822"]))
    core = b"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n" + _encode(JAPANESE, "iso-2022-jp")
    for level in range(depth):
        if kind == "multipart":
            core = (b"Content-Type: multipart/mixed; boundary=L%d\r\n\r\n--L%d\r\n" % (level, level)
                    + core + b"\r\n--L%d--\r\n" % level)
        else:
            core = b"Content-Type: message/rfc822\r\n\r\nSubject: level\r\n" + core
    return b"From: deep@example.jp\r\nSubject: deep\r\n" + core


@st.composite
def structured_mail(draw) -> bytes:
    part = draw(mime_part())
    content_type, _, body = part.partition(b"\r\n")
    return draw(headers(content_type=None)) + part if draw(st.booleans()) else (
        draw(headers(content_type=content_type.removeprefix(b"Content-Type: "))) + body)


hostile_mail = st.one_of(st.binary(max_size=2048), structured_mail(), deep_nesting())


def check_parse(raw: bytes) -> None:
    """Parse ``raw`` as the inbound pipeline does and assert that the result can be stored
    and shown.  Anything raised here is a crash of the parser (it defines no rejection:
    every message becomes a ParsedMail, broken parts become defects and text)."""
    from core.sanitize import clean_mail_html, html_to_text
    from tickets.mail.inbound import message_key
    from tickets.mail.parse import ParsedMail, parse

    key = message_key(raw)
    assert isinstance(key, str) and 0 < len(key) <= LIMITS["message_id"]
    parsed = parse(raw, envelope_from="sender@example.jp", own_domain="support.example.test")
    assert isinstance(parsed, ParsedMail)
    for name in ("subject", "from_name", "from_address", "text", "html", "charset", "message_id"):
        value = getattr(parsed, name)
        if value is None:
            continue
        assert isinstance(value, str), name
        value.encode("utf-8")  # no lone surrogates: PostgreSQL and the JSON API need UTF-8
        assert "\x00" not in value, name
        if name in LIMITS and name not in ("subject", "from_address", "from_name", "charset"):
            assert len(value) <= LIMITS[name], (name, len(value))
    assert len(parsed.subject) <= LIMITS["subject"]
    for attachment in parsed.attachments:
        assert isinstance(attachment.data, bytes)
        assert 0 < len(attachment.filename) <= LIMITS["filename"]
        attachment.filename.encode("utf-8")
        assert "\x00" not in attachment.filename and "/" not in attachment.filename
        assert len(attachment.content_type) <= LIMITS["content_type"]
        assert attachment.content_id is None or len(attachment.content_id) <= LIMITS["content_id"]
    if parsed.html is not None:
        _assert_inert(clean_mail_html(parsed.html))
        html_to_text(parsed.html)
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


class _ActiveContent(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "style"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}={value}")


def _assert_inert(html: str) -> None:
    parser = _ActiveContent()
    parser.feed(html)
    parser.close()
    assert not parser.found, parser.found
