"""Imports: CSV (UTF-8, cp932) and XLSX, header mapping, per-row errors with line numbers,
idempotent re-import, the API (202 job, 422 for unusable files), progress pushes."""
import io

import pytest

CUSTOMERS_CSV = (
    "顧客コード,氏名,フリガナ,電話番号,メールアドレス,郵便番号,住所,生年月日,DM\n"
    "C001,山田 太郎,ヤマダ タロウ,03-1234-5678,Taro@Example.jp,100-0005,東京都千代田区丸の内1-1,1980/04/01,可\n"
    "C002,佐藤 花子,サトウ ハナコ,０９０－２２２２－３３３３,,,\"大阪府大阪市\n北区梅田1-1\",昭和55年3月5日,不可\n"
    "C003,鈴木 一郎,スズキ イチロウ,03-12,,,,,\n"
    "C004,,タナカ,090-4444-5555,,,,,\n"
    ",高橋 次郎,タカハシ ジロウ,,,,,,\n"
    "C006,伊藤 三郎,イトウ サブロウ,090-6666-7777,ito@example,,,,\n"
    "C007,渡辺 四郎,ワタナベ シロウ,,,,,1990-02-30,\n"
)


def _write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return str(path)


def _run(path, kind="customers"):
    from customers import imports

    return imports.run(path, kind, filename=path.rsplit("/", 1)[-1], batch_size=3)


def _errors(result):
    return {e["line"]: e["message"] for e in result["errors"]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_customer_csv_imports_good_rows_and_reports_bad_lines(ctx, tmp_path, encoding):
    from customers import service

    path = _write(tmp_path, "customers.csv", CUSTOMERS_CSV, encoding)
    result = _run(path)
    assert result["rows"] == 7 and result["created"] == 3 and result["error_count"] == 4, result
    errors = _errors(result)
    # Line numbers are the file's: header is line 1; row C002 spans lines 3–4.
    assert sorted(errors) == [5, 6, 8, 9]
    assert "03-12" in errors[5] and "name" in errors[6] and "ito@example" in errors[8] and "birthday" in errors[9]
    taro = service.lookup(phone="0312345678")
    assert taro.name == "山田 太郎" and taro.emails == ["taro@example.jp"] and taro.dm_opt_in is True
    assert taro.address == "〒100-0005 東京都千代田区丸の内1-1" and str(taro.birthday) == "1980-04-01"
    hanako = service.lookup(phone="09022223333")
    assert hanako.name_kana == "サトウ ハナコ" and str(hanako.birthday) == "1980-03-05"
    assert "北区梅田" in hanako.address and hanako.dm_opt_in is False


def test_reimporting_the_same_file_changes_nothing(ctx, tmp_path):
    from sqlalchemy import func, select

    from customers.models import Customer
    from extensions import db

    path = _write(tmp_path, "customers.csv", CUSTOMERS_CSV)
    _run(path)
    again = _run(path)
    assert again["created"] == 0 and again["updated"] == 0 and again["unchanged"] == 3
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 3
    versions = set(db.session.scalars(select(Customer.version)))
    assert versions == {1}


def test_english_headers_and_xlsx(ctx, tmp_path):
    from openpyxl import Workbook

    from customers import service

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Kana", "Phone", "Phone 2", "E-mail", "Company", "Birthday", "Tags"])
    sheet.append(["John Smith", "ジョン スミス", "+1 212 555 0100", "03-9876-5432", "john@example.com", "ACME",
                  __import__("datetime").datetime(1970, 1, 2), "VIP, 法人"])
    sheet.append(["Bad Phone", None, "12345", None, None, None, None, None])
    sheet.append([None, None, None, None, None, None, None, None])  # blank row: skipped silently
    sheet.append(["Jane Doe", None, 312345678, None, None, None, None, None])  # a number cell (leading 0 lost)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path = _write(tmp_path, "customers.xlsx", buffer.getvalue())
    result = _run(path)
    assert result["created"] == 2 and _errors(result).keys() == {3}, result
    john = service.lookup(email="JOHN@example.com")
    assert john.phones == ["+12125550100", "+81398765432"] and john.company == "ACME"
    assert john.tags == ["VIP", "法人"] and str(john.birthday) == "1970-01-02"
    assert service.lookup(phone="03-1234-5678").name == "Jane Doe"
    assert _run(path)["created"] == 0


def test_row_matching_two_customers_is_an_error(ctx, tmp_path):
    from customers import service
    from extensions import db

    service.create({"name": "A", "phones": ["03-1111-2222"]})
    service.create({"name": "B", "emails": ["b@example.com"]})
    db.session.commit()
    path = _write(tmp_path, "c.csv", "name,phone,email\nX,03-1111-2222,b@example.com\n")
    result = _run(path)
    assert result["error_count"] == 1 and "several customers" in result["errors"][0]["message"]


def test_purchases_import_by_code_phone_email_idempotent(ctx, tmp_path):
    from sqlalchemy import func, select

    from customers import rfm, service
    from customers.models import Interaction, Purchase
    from extensions import db

    _run(_write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    csv_text = (
        "注文番号,顧客コード,電話番号,メール,商品名,数量,金額,購入日\n"
        "A-1,C001,,,南部鉄器 急須,1,\"￥12,800\",2026/03/01 10:30\n"
        "A-1,C001,,,今治タオル,2,5500円,2026/03/01 10:30\n"
        ",,090-2222-3333,,緑茶,1,４８００,2026-02-01\n"
        ",,,TARO@example.jp,マグカップ,1,3200,2026年1月15日\n"
        ",,,,宙に浮いた行,1,100,2026-01-01\n"
        ",C999,,,存在しない顧客,1,100,2026-01-01\n"
        ",C001,,,壊れた金額,1,abc,2026-01-01\n"
        ",C001,,,壊れた日付,1,100,2026-13-01\n"
        ",,090-2222-3333,,緑茶,1,４８００,2026-02-01\n"
    )
    path = _write(tmp_path, "purchases.csv", csv_text, "cp932")
    result = _run(path, "purchases")
    assert result["imported"] == 5 and result["error_count"] == 4, result
    assert sorted(_errors(result)) == [6, 7, 8, 9]
    taro = service.lookup(phone="03-1234-5678")
    amounts = sorted(db.session.scalars(select(Purchase.amount).where(Purchase.customer_id == taro.id)))
    assert amounts == [3200, 5500, 12800]
    again = _run(path, "purchases")
    assert again["imported"] == 0 and again["skipped"] == 5
    assert db.session.scalar(select(func.count()).select_from(Purchase)) == 5
    assert db.session.scalar(select(func.count()).select_from(Interaction).where(Interaction.kind == "purchase")) == 5
    first = db.session.scalar(select(Purchase).where(Purchase.product == "南部鉄器 急須"))
    assert first.purchased_at.isoformat() == "2026-03-01T01:30:00+00:00"  # 10:30 Japan time
    rfm.recompute()
    db.session.commit()
    db.session.refresh(taro)
    assert taro.ltv == 21500 and taro.rank != "new"


@pytest.mark.parametrize("name,content,kind", [
    ("x.csv", "foo,bar\n1,2\n", "customers"),
    ("x.csv", "氏名,電話番号\n山田,03-1234-5678\n", "purchases"),
    ("x.xlsx", "氏名\n山田\n", "customers"),
    ("x.csv", b"\x00\x01\x02\xff\xfe\x00garbage" * 50, "customers"),
    ("x.csv", "", "customers"),
])
def test_unusable_files_are_refused_at_upload(client, login, name, content, kind):
    login(client)
    data = content.encode() if isinstance(content, str) else content
    response = client.post("/api/v1/imports", data={"kind": kind, "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"


def test_upload_needs_kind_and_file(client, login):
    login(client)
    assert client.post("/api/v1/imports", data={"kind": "customers"}, content_type="multipart/form-data").status_code == 422
    response = client.post("/api/v1/imports", data={"kind": "people", "file": (io.BytesIO(b"name\nA\n"), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422


def test_api_import_runs_as_a_job_with_progress_and_then_ranks(app, client, login, monkeypatch):
    from rq import SimpleWorker

    from core import jobs

    user_id, _ = login(client)
    pushed = []
    monkeypatch.setattr("customers.jobs.push_now", lambda event, data, room: pushed.append((event, data, room)))
    monkeypatch.setattr("customers.imports.BATCH", 2)
    response = client.post("/api/v1/imports", data={"kind": "customers",
                                                    "file": (io.BytesIO(CUSTOMERS_CSV.encode("cp932")), "顧客.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["status"] == "queued"
    with app.app_context():
        queues = [jobs.queue(name) for name in jobs.QUEUES]
        SimpleWorker(queues, connection=jobs.queue().connection).work(burst=True)
    job = client.get(f"/api/v1/jobs/{job_id}").get_json()
    assert job["status"] == "finished" and job["progress"] == 1.0
    assert job["result"]["created"] == 3 and {e["line"] for e in job["result"]["errors"]} == {5, 6, 8, 9}
    events = [d for e, d, room in pushed if e == "import_progress" and room == f"user:{user_id}"]
    assert events and events[-1]["done"] is True and events[-1]["created"] == 3
    # The rank recompute followed the import (enqueued after commit, run in the same burst).
    assert client.get("/api/v1/customers?q=山田").get_json()["items"][0]["name"] == "山田 太郎"
    admin = app.test_client()
    login(admin, roles="admin")
    rows = admin.get("/api/v1/audit?action=import.customers").get_json()["items"]
    assert rows and rows[0]["actor_id"] == user_id and rows[0]["detail"]["created"] == 3


def test_cli_import_and_ranks_recompute(app, tmp_path):
    from customers import service

    customers_csv = _write(tmp_path, "c.csv", CUSTOMERS_CSV, "cp932")
    purchases_csv = _write(tmp_path, "p.csv", "顧客コード,商品名,金額,購入日\nC001,急須,12800,2026-03-01\nC001,壊れ,x,2026-03-01\n")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "customers", customers_csv])
    assert result.exit_code == 0, result.output
    assert "3 created" in result.output and "line 5:" in result.output
    result = runner.invoke(args=["import", "purchases", purchases_csv])
    assert result.exit_code == 0, result.output
    assert "1 imported" in result.output and "line 3:" in result.output
    result = runner.invoke(args=["ranks", "recompute"])
    assert result.exit_code == 0 and "ranked 1 customers" in result.output
    with app.app_context():
        assert service.lookup(phone="0312345678").ltv == 12800
    missing = runner.invoke(args=["import", "customers", str(tmp_path / "nope.csv")])
    assert missing.exit_code != 0 and "no such file" in missing.output
    wrong = runner.invoke(args=["import", "purchases", customers_csv])
    assert wrong.exit_code != 0 and "purchase file needs" in wrong.output
