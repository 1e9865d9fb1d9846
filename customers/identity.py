"""Identity normalisation: phones to E.164 (default region JP), emails case-folded.

Numbers arrive as people type them and as PBXs send them: ``03-1234-5678``,
``０３−１２３４−５６７８``, ``+81 3 1234 5678``, ``0312345678``, ``81312345678`` (E.164
without ``+``), ``010 81 3 …`` (international prefix from Japan) or ``0081…``.  All of
them are one number.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers

from core.errors import Invalid

DEFAULT_REGION = "JP"
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")
_DIGITS = re.compile(r"\d")
# Dashes and long vowel marks people use inside Japanese phone numbers.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ーｰ－().・/]")


def phone_or_none(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of ``raw``, or None when it is no valid number (``anonymous`` …)."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if not text or not _DIGITS.search(text):
        return None
    plus = text.startswith("+")
    digits = _SEPARATORS.sub("", text.lstrip("+"))
    if not digits.isdigit():
        return None
    if plus:
        candidate = "+" + digits
    elif digits.startswith("010") and region == "JP":  # international call prefix from Japan
        candidate = "+" + digits[3:]
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    elif digits.startswith("0"):
        candidate = digits  # national form, parsed with the default region
    elif len(digits) >= 11:
        candidate = "+" + digits  # E.164 sent without its "+"
    else:
        candidate = digits
    try:
        parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str, field: str = "phones") -> str:
    """E.164 of ``raw``; an invalid number is a 422 naming it."""
    value = phone_or_none(raw)
    if value is None:
        raise Invalid(f"{raw!r} is not a valid phone number.", fields={field: [f"invalid phone number: {raw}"]})
    return value


def email_or_none(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip().strip("<>").casefold()
    return text if _EMAIL.match(text) and len(text) <= 320 else None


def normalize_email(raw: str, field: str = "emails") -> str:
    value = email_or_none(raw)
    if value is None:
        raise Invalid(f"{raw!r} is not a valid email address.", fields={field: [f"invalid email: {raw}"]})
    return value


@functools.lru_cache(maxsize=4096)
def display_phone(e164: str) -> str:
    """National format for people (03-1234-5678 style for Japanese numbers)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if parsed.country_code == 81:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_SPACES = re.compile(r"[\s\u3000]+")


def name_key(name: str | None) -> str:
    """A name as compared for duplicates and search: NFKC, no spaces, case-folded."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", name or "")).casefold()


def to_katakana(text: str) -> str:
    """Hiragana → katakana (people type furigana either way)."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def kana_key(kana: str | None) -> str:
    """Furigana as sorted and searched: full-width katakana, no spaces."""
    return to_katakana(name_key(kana))
