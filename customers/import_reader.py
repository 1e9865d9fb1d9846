"""Reading import files row by row in constant memory: CSV (UTF-8 with or without BOM,
Shift_JIS/cp932, UTF-16 from Excel) and XLSX (openpyxl read-only), Japanese and English
headers mapped to one set of field names, and the value parsers (yen, dates, eras, flags).
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Tokyo")
XLSX_MAGIC = b"PK\x03\x04"

# canonical field → header spellings (compared after _header_key).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "tsunagu id", "tsunagu_id", "customer_id_tsunagu"),
    "code": ("顧客id", "顧客コード", "顧客番号", "会員番号", "会員id", "customer code", "customer_code",
             "customer id", "customer_id", "customer no", "code", "member id"),
    "name": ("氏名", "名前", "お名前", "顧客名", "氏名漢字", "name", "full name", "customer name", "customer"),
    "last_name": ("姓", "苗字", "名字", "last name", "family name", "surname"),
    "first_name": ("名", "first name", "given name"),
    "name_kana": ("フリガナ", "ふりがな", "カナ", "氏名カナ", "氏名(カナ)", "氏名フリガナ", "よみがな", "読み", "kana",
                  "name kana", "name_kana", "furigana"),
    "last_kana": ("セイ", "姓カナ", "姓(カナ)", "last name kana"),
    "first_kana": ("メイ", "名カナ", "名(カナ)", "first name kana"),
    "company": ("会社名", "会社", "勤務先", "法人名", "企業名", "company", "organization", "organisation"),
    "phone": ("電話番号", "電話", "tel", "phone", "phone number", "telephone", "携帯", "携帯電話", "携帯番号",
              "携帯電話番号", "mobile", "mobile phone", "電話番号1", "電話番号2", "phone1", "phone2", "tel1", "tel2"),
    "email": ("メール", "メールアドレス", "eメール", "e-mail", "email", "mail", "email address", "メールアドレス1",
              "メールアドレス2", "email1", "email2", "pcメール", "携帯メール"),
    "postal_code": ("郵便番号", "〒", "zip", "zip code", "postal code", "postcode"),
    "address": ("住所", "住所1", "住所2", "所在地", "都道府県", "市区町村", "番地", "建物名", "address", "address1",
                "address2", "prefecture", "city", "street"),
    "birthday": ("生年月日", "誕生日", "birthday", "date of birth", "birth date", "dob"),
    "dm_opt_in": ("dm", "dm可否", "dm送付", "dm送付可否", "dm希望", "ダイレクトメール", "dm許諾", "dm_opt_in",
                  "dm opt in", "direct mail"),
    "tags": ("タグ", "tags", "tag", "区分", "segment"),
    "order_id": ("注文番号", "注文id", "受注番号", "伝票番号", "order id", "order_id", "order number", "order no"),
    "product": ("商品名", "商品", "品名", "品目", "product", "item", "product name"),
    "quantity": ("数量", "個数", "quantity", "qty"),
    "unit_price": ("単価", "unit price", "price"),
    "amount": ("金額", "合計", "合計金額", "購入金額", "売上", "売上金額", "小計", "amount", "total", "line total"),
    "purchased_at": ("購入日", "購入日時", "注文日", "注文日時", "受注日", "売上日", "日付", "purchased_at",
                     "purchased at", "purchase date", "date", "order date"),
}
MULTI = {"phone", "email", "address"}  # several columns add up (phones, emails, address parts)
_KEY_NOISE = re.compile(r"[\s_\-・:：*＊]+")


def _header_key(text) -> str:
    return _KEY_NOISE.sub("", unicodedata.normalize("NFKC", str(text or "")).strip().casefold()).replace(" ", "")


_LOOKUP = {_header_key(alias): name for name, aliases in ALIASES.items() for alias in aliases}


class ImportFileError(Exception):
    """The file as a whole cannot be read (not CSV/XLSX, no header, no known column)."""


@dataclass
class Header:
    columns: list[str | None]  # canonical field per column (None: ignored)
    unknown: list[str] = field(default_factory=list)

    def row(self, values) -> dict:
        """A data row as ``{field: value}``; MULTI fields collect a list of the non-empty cells."""
        out: dict = {}
        for name, value in zip(self.columns, values, strict=False):
            if name is None or value is None or (isinstance(value, str) and not value.strip()):
                continue
            if isinstance(value, str):
                value = value.strip()
            if name in MULTI:
                out.setdefault(name, []).append(value)
            elif name not in out:
                out[name] = value
        return out


def map_header(cells) -> Header:
    columns, unknown = [], []
    for cell in cells:
        key = _header_key(cell)
        name = _LOOKUP.get(key)
        if name is None and key:
            # "電話番号（自宅）", "メールアドレス(会社)", "phone 3": the base spelling decides.
            base = re.sub(r"[(（\[].*$|\d+$", "", key)
            name = _LOOKUP.get(base)
        columns.append(name)
        if name is None and key:
            unknown.append(str(cell))
    return Header(columns, unknown)


def detect_encoding(path: str) -> str:
    """``utf-8-sig``, ``utf-16`` (BOM) or ``utf-8`` if the whole file decodes as UTF-8
    (checked incrementally: constant memory), else ``cp932`` (Excel's Shift_JIS)."""
    with open(path, "rb") as handle:
        start = handle.read(4)
        if start.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        for encoding in ("utf-8", "cp932"):
            handle.seek(0)
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return encoding
    raise ImportFileError("The file is neither UTF-8 nor Shift_JIS (cp932) text, nor an XLSX workbook.")


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from a file, for progress."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n


class RowSource:
    """Iterate ``(line_number, row_dict)`` over a CSV or XLSX file; ``progress()`` is 0..1."""

    def __init__(self, path: str, filename: str = ""):
        import os

        self.path, self.filename = path, filename or path
        self.size = max(1, os.path.getsize(path))
        with open(path, "rb") as handle:
            self.format = "xlsx" if handle.read(4) == XLSX_MAGIC else "csv"
        if self.format == "csv" and filename.lower().endswith((".xlsx", ".xlsm")):
            raise ImportFileError("The file is named .xlsx but is not an Excel workbook.")
        self.header: Header | None = None
        self.encoding: str | None = None
        self._fraction = 0.0

    def progress(self) -> float:
        return self._fraction

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        yield from (self._xlsx() if self.format == "xlsx" else self._csv())

    def _set_header(self, cells) -> None:
        self.header = map_header(cells)
        if not any(self.header.columns):
            raise ImportFileError("No known column in the first row; expected headers such as 氏名/name, "
                                  "電話番号/phone, メール/email, 購入日/purchased_at, 金額/amount.")

    def _csv(self):
        self.encoding = detect_encoding(self.path)
        with open(self.path, encoding=self.encoding, newline="") as handle:
            sample = handle.read(8192)
        if "\x00" in sample:
            raise ImportFileError("The file is neither CSV nor XLSX.")
        first_line = sample.split("\n", 1)[0]
        delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
        with open(self.path, "rb", buffering=0) as raw:
            counting = _CountingReader(raw)
            stream = io.TextIOWrapper(io.BufferedReader(counting, 1 << 16), encoding=self.encoding, newline="")
            reader = csv.reader(stream, delimiter=delimiter)
            try:
                header = next(reader, None)
            except csv.Error as error:
                raise ImportFileError(f"The CSV cannot be read: {error}.") from None
            if header is None:
                raise ImportFileError("The file is empty.")
            self._set_header(header)
            line = reader.line_num
            while True:
                start = line + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    line = reader.line_num
                    yield start, {"__error__": f"unreadable CSV row: {error}"}
                    continue
                line = reader.line_num
                self._fraction = min(1.0, counting.count / self.size)
                if not any(v.strip() for v in values):
                    continue
                yield start, self.header.row(values)
        self._fraction = 1.0

    def _xlsx(self):
        from zipfile import BadZipFile

        from openpyxl import load_workbook

        try:
            workbook = load_workbook(self.path, read_only=True, data_only=True)
        except (BadZipFile, KeyError, OSError, ValueError) as error:
            raise ImportFileError(f"The Excel workbook cannot be read ({error}).") from None
        try:
            sheet = workbook.worksheets[0]
            total = max(1, sheet.max_row or 1)
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                raise ImportFileError("The first sheet is empty.")
            self._set_header(header)
            for number, values in enumerate(rows, start=2):
                self._fraction = min(1.0, number / total)
                if not any(v is not None and str(v).strip() for v in values):
                    continue
                yield number, self.header.row(values)
        finally:
            workbook.close()
        self._fraction = 1.0


# ---- values -------------------------------------------------------------------------

_YEN_NOISE = re.compile(r"[¥￥,、\s円]|JPY|yen", re.I)
_ERAS = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019,
         "m": 1868, "t": 1912, "s": 1926, "h": 1989, "r": 2019}
_ERA_DATE = re.compile(r"^(明治|大正|昭和|平成|令和|[mtshr])\s*(\d{1,2}|元)[年./\-](\d{1,2})[月./\-](\d{1,2})日?$", re.I)
_DATE = re.compile(r"^(\d{4})[年./\-](\d{1,2})[月./\-](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TRUE = {"1", "true", "yes", "y", "可", "希望", "する", "○", "〇", "◯", "はい", "有", "あり", "許可", "ok", "x"}
_FALSE = {"0", "false", "no", "n", "不可", "不要", "しない", "×", "いいえ", "無", "なし", "拒否", "-", ""}


def parse_int(value, what: str = "number") -> int:
    if isinstance(value, bool):
        raise ValueError(f"not a {what}: {value}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a whole {what}: {value}")
        return int(value)
    text = _YEN_NOISE.sub("", unicodedata.normalize("NFKC", str(value)))
    if re.fullmatch(r"-?\d+(\.0+)?", text):
        return int(text.split(".")[0])
    raise ValueError(f"not a {what}: {value}")


def parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = unicodedata.normalize("NFKC", str(value)).strip()
    era = _ERA_DATE.match(text)
    if era:
        year = 1 if era.group(2) == "元" else int(era.group(2))
        return date(_ERAS[era.group(1).casefold()] + year - 1, int(era.group(3)), int(era.group(4)))
    found = _DATE.match(text) or _COMPACT.match(text)
    if found:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    raise ValueError(f"not a date: {value}")


def parse_datetime(value) -> datetime:
    """A date-time in Japan time unless it says otherwise; a bare date is its midnight."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=LOCAL_ZONE)
    if isinstance(value, date):
        return datetime.combine(value, time(), LOCAL_ZONE)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    found = _DATE.match(text)
    if found:
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in found.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=LOCAL_ZONE)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.combine(parse_date(text), time(), LOCAL_ZONE)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_ZONE)


def parse_flag(value) -> bool:
    if isinstance(value, bool):
        return value
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not yes/no: {value}")


def parse_tags(value) -> list[str]:
    return [t.strip() for t in re.split(r"[,、;；|/]", unicodedata.normalize("NFKC", str(value))) if t.strip()]


def clean_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip() if not isinstance(value, str) else value.strip()
