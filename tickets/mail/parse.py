"""Inbound mail parsing with the standard library (``email``, ``policy.default``).

Japanese mail comes in ISO-2022-JP, Shift_JIS (often with Windows/NEC characters such as
①), EUC-JP or UTF-8, in encoded words or — from broken clients — as raw 8-bit headers.
Every header and body is decoded with a charset map that prefers the Windows supersets,
then falls back through the common Japanese charsets; nothing here raises on bad input:
a malformed message still yields a subject, a sender and readable text.
"""
from __future__ import annotations

import email
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header
from email.message import Message as EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from core.sanitize import html_to_text

# Declared charsets and the codec that decodes what senders actually put in them.
CODECS = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "cp932": "cp932", "iso-2022-jp": "iso2022_jp_ext", "csiso2022jp": "iso2022_jp_ext",
    "iso-2022-jp-2": "iso2022_jp_2", "euc-jp": "euc_jp", "x-euc-jp": "euc_jp", "us-ascii": "utf-8",
    "ascii": "utf-8", "unknown-8bit": "utf-8", "x-unknown": "utf-8", "utf8": "utf-8",
}
FALLBACKS = ("utf-8", "cp932", "euc_jp", "iso2022_jp_2")
_MSGID = re.compile(r"<[^<>\s]{1,490}>")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:@]+@[^\s<>()\[\]\"',;:@]+")
AUTOMATED_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon")
CONTENT_ID_MAX = 255  # tickets.models.Attachment.content_id


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None


@dataclass
class ParsedMail:
    message_id: str | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    to: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    html: str | None = None  # raw (untrusted) HTML: sanitise before anyone sees it
    charset: str | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    automated: str | None = None  # why this is an auto-reply / bounce / loop, or None
    defects: list[str] = field(default_factory=list)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset to text, with the Japanese fallbacks; never raises."""
    declared = (charset or "").strip().strip('"').lower()
    tried = []
    for codec in ([CODECS.get(declared, declared)] if declared else []) + list(FALLBACKS):
        if not codec or codec in tried:
            continue
        tried.append(codec)
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", errors="replace")


def _decode_raw_header(raw: str) -> str:
    """A raw header value (maybe with encoded words, raw 8-bit or raw ISO-2022-JP) to text."""
    unfolded = re.sub(r"\r?\n[ \t]+", " ", raw or "")
    try:
        chunks = decode_header(unfolded)
    except Exception:  # a broken encoded word: keep the text as it is
        chunks = [(unfolded, None)]
    text = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            if charset is None:
                chunk_bytes = chunk
                text.append(_fix_text(chunk_bytes.decode("ascii", errors="surrogateescape")))
            else:
                text.append(decode_bytes(chunk, charset))
        else:
            text.append(_fix_text(chunk))
    return "".join(text).strip()


def _fix_text(value: str) -> str:
    """Undo raw 8-bit (surrogate-escaped) or raw ISO-2022-JP in a decoded header."""
    if _SURROGATE.search(value):
        value = decode_bytes(value.encode("utf-8", errors="surrogateescape"), None)
    if "\x1b$" in value or "\x1b(" in value:
        try:
            value = value.encode("ascii", errors="surrogateescape").decode("iso2022_jp_2")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return value


def header(msg: EmailMessage, name: str) -> str:
    """One header as text, robust against everything senders do to headers."""
    try:
        value = msg.get(name)
        text = str(value) if value is not None else ""
    except Exception:  # policy.default refuses some malformed headers: decode the raw source
        text = None
    if text is None or _SURROGATE.search(text) or "=?" in text or "\x1b" in text or "\ufffd" in text:
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                return _decode_raw_header(raw)
        return ""
    return text.strip()


def _addresses(*values: str) -> list[tuple[str, str]]:
    """``getaddresses``, except that a header it cannot parse (thousands of nested ``(``
    comments recurse past Python's limit) yields the bare addresses it contains."""
    try:
        return getaddresses(list(values))
    except (RecursionError, ValueError, IndexError):
        return [("", found) for value in values for found in _BARE_ADDRESS.findall(value)]


def message_ids(value: str) -> list[str]:
    return _MSGID.findall(value or "")


def normalise_message_id(value: str | None) -> str | None:
    found = message_ids(value or "")
    if found:
        return found[0]
    value = (value or "").strip()
    return f"<{value[:490]}>" if value and " " not in value else None


def _safe_filename(name: str | None, index: int, content_type: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().strip(".")
    if not name:
        extension = {"text/plain": ".txt", "text/html": ".html", "image/png": ".png", "image/jpeg": ".jpg",
                     "application/pdf": ".pdf", "message/rfc822": ".eml"}.get(content_type, ".bin")
        name = f"attachment-{index}{extension}"
    return name[:255]


def _part_filename(part: EmailMessage) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name and (_SURROGATE.search(name) or "=?" in name):
        name = _decode_raw_header(name)
    return name


def _walk(part: EmailMessage, parsed: ParsedMail) -> None:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        data = inner.as_bytes() if hasattr(inner, "as_bytes") else b""
        parsed.attachments.append(ParsedAttachment(_safe_filename(_part_filename(part), len(parsed.attachments) + 1,
                                                                  content_type), content_type, data))
        return
    if part.is_multipart():
        for child in part.get_payload() or []:
            if isinstance(child, EmailMessage):
                _walk(child, parsed)
        return
    disposition = part.get_content_disposition()
    filename = _part_filename(part)
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = b""
    is_body = disposition != "attachment" and not filename
    if content_type == "text/plain" and is_body:
        charset = part.get_content_charset()
        text = decode_bytes(payload, charset)
        parsed.text = f"{parsed.text}\n{text}" if parsed.text else text
        parsed.charset = parsed.charset or (charset or "").lower() or None
        return
    if content_type == "text/html" and is_body and parsed.html is None:
        parsed.html = decode_bytes(payload, part.get_content_charset())
        parsed.charset = parsed.charset or (part.get_content_charset() or "").lower() or None
        return
    content_id = normalise_message_id(header(part, "Content-ID"))
    if content_id and len(content_id) > CONTENT_ID_MAX:
        content_id = None  # longer than any real one (and than the column): unusable for cid: links
    parsed.attachments.append(ParsedAttachment(
        _safe_filename(filename, len(parsed.attachments) + 1, content_type), content_type[:120], payload,
        content_id))


def _automated(msg: EmailMessage, parsed: ParsedMail, envelope_from: str | None, own_domain: str | None) -> str | None:
    auto = header(msg, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted: {auto}"
    precedence = header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence: {precedence}"
    if header(msg, "X-Autoreply") or header(msg, "X-Autorespond") or header(msg, "X-Auto-Reply"):
        return "x-autoreply"
    local = parsed.from_address.split("@")[0].lower()
    if local in AUTOMATED_SENDERS:
        return f"sender: {local}"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "empty return path"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    if own_domain and parsed.from_address.lower().endswith("@" + own_domain.lower()):
        return "loop: from our own domain"
    return None


def _drop_nul(parsed: ParsedMail) -> None:
    """NUL cannot be stored in PostgreSQL text (and means nothing in mail)."""
    for name in ("subject", "from_name", "from_address", "text", "html", "charset"):
        value = getattr(parsed, name)
        if value and "\x00" in value:
            setattr(parsed, name, value.replace("\x00", ""))
    for attachment in parsed.attachments:
        attachment.filename = attachment.filename.replace("\x00", "")


def parse(raw: bytes, *, envelope_from: str | None = None, own_domain: str | None = None) -> ParsedMail:
    """Parse a raw message; never raises (malformed parts become defects and text)."""
    parsed = ParsedMail()
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
    except Exception as error:  # pragma: no cover - the parser is lenient by design
        parsed.defects.append(f"unparseable: {error}")
        parsed.text = decode_bytes(raw, None)
        return parsed
    parsed.defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
    parsed.message_id = normalise_message_id(header(msg, "Message-ID"))
    parsed.in_reply_to = message_ids(header(msg, "In-Reply-To"))
    parsed.references = message_ids(header(msg, "References"))
    parsed.subject = " ".join(header(msg, "Subject").split())[:500]
    addresses = _addresses(header(msg, "From"))
    if addresses:
        parsed.from_name, parsed.from_address = addresses[0][0].strip(), addresses[0][1].strip()
    if not parsed.from_address:
        reply_to = _addresses(header(msg, "Reply-To")) or _addresses(header(msg, "Sender"))
        if reply_to:
            parsed.from_address = reply_to[0][1].strip()
    if not parsed.from_address and envelope_from and envelope_from.strip("<> "):
        parsed.from_address = envelope_from.strip("<> ")
    parsed.to = [address for _, address in _addresses(header(msg, "To"), header(msg, "Cc")) if address]
    try:
        date_value = header(msg, "Date")
        parsed.date = parsedate_to_datetime(date_value) if date_value else None
        if parsed.date is not None and parsed.date.tzinfo is None:
            parsed.date = None
    except (TypeError, ValueError, IndexError):
        parsed.date = None
    try:
        _walk(msg, parsed)
    except Exception as error:  # broken structure: show the raw body as text
        parsed.defects.append(f"structure: {type(error).__name__}")
        head, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        parsed.text = decode_bytes(body, msg.get_content_charset())
    if not parsed.text.strip() and parsed.html:
        parsed.text = html_to_text(parsed.html)
    parsed.text = parsed.text.replace("\r\n", "\n").strip("\n")
    _drop_nul(parsed)
    parsed.automated = _automated(msg, parsed, envelope_from, own_domain)
    return parsed
