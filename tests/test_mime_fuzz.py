"""The inbound mail parser under hostile input (issue 8): arbitrary bytes and broken MIME
never make it raise, and what it returns fits the columns and is safe to show.  A few
seconds here; ``bench/fuzz_mime.py`` runs the same for minutes."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mime_fuzzing import check_parse, deep_nesting, structured_mail

FAST = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(raw=st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash_the_parser(raw):
    check_parse(raw)


@FAST
@given(raw=structured_mail())
def test_broken_mime_never_crashes_the_parser(raw):
    check_parse(raw)


@settings(FAST, max_examples=10)
@given(raw=deep_nesting())
def test_deeply_nested_mime_never_crashes_the_parser(raw):
    check_parse(raw)


def test_known_nasty_messages():
    """Hand-made cases the generators reach only by luck."""
    nasty = [
        b"",
        b"\r\n\r\n",
        b"Subject: =?iso-2022-jp?B?GyRCJCIbKEI?=\r\nFrom: =?shift_jis?Q?=82=A0=ZZ?= <a@b>\r\n\r\nbody",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n",
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!====",
        b"Subject: " + b"\x1b$B" * 5000 + b"\r\n\r\n",
        b"Content-Type: text/html\r\n\r\n<img src=x onerror=alert(1)><script>alert(1)</script>",
        b"Content-Type: image/png; name=\"" + b"a" * 1000 + b"\"\r\nContent-ID: <" + b"c" * 400 + b"@x>\r\n\r\nxx",
        b"From: \x00\r\nSubject: \x00\xff\xfe\r\n\r\n\x00",
        # Nested comments past Python's recursion limit (found by bench/fuzz_mime.py).
        b"From: a@b.jp " + b"(" * 5000 + b"\r\nTo: " + b"(" * 5000 + b"\r\n\r\nbody",
    ]
    for raw in nasty:
        check_parse(raw)
