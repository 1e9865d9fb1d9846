"""Demo customers for `flask demo`: realistic Japanese names, furigana and addresses
(Faker ja_JP), valid phone numbers only, purchase histories in five behaviour segments so
every rank appears, a few notes and deliberate duplicates; then the ranks are computed."""
from __future__ import annotations

import random
from datetime import timedelta

from faker import Faker
from sqlalchemy import insert, select

from core.db import utcnow
from customers import rfm
from customers.identity import phone_or_none
from customers.models import Customer, CustomerIdentity, Interaction, Purchase
from customers.service import purchase_summary
from extensions import db

PRODUCTS = [  # name, typical unit price (yen)
    ("オーガニック緑茶 ギフトセット", 4800), ("有田焼 マグカップ", 3200), ("今治タオル ギフト", 5500),
    ("南部鉄器 急須", 12800), ("京都 抹茶スイーツ詰め合わせ", 3980), ("北海道 新巻鮭", 9800),
    ("信州 りんごジュース 6本", 2980), ("加湿器 スチーム式", 15800), ("コーヒー豆 定期便", 3600),
    ("羽毛布団 シングル", 39800), ("電気ケトル", 6980), ("土鍋 8号", 7480), ("帆布トートバッグ", 8900),
    ("日本酒 飲み比べセット", 6600), ("ハンドクリーム 3本組", 2400), ("掛け時計 木製", 11000),
]
TAGS = ["定期購入", "法人", "メルマガ", "要フォロー", "ギフト", "関西", "首都圏"]
# segment: share, purchases (min, max), days since last purchase (min, max), unit-price factor
SEGMENTS = [
    ("new", 0.10, (0, 0), (0, 0), 0),
    ("loyal", 0.15, (10, 18), (0, 14), 2.2),
    ("regular", 0.22, (5, 9), (15, 75), 1.2),
    ("occasional", 0.25, (2, 4), (60, 200), 0.8),
    ("lapsed", 0.28, (1, 2), (200, 330), 0.5),
]
WELL_KNOWN = {"name": "山田 太郎", "kana": "ヤマダ タロウ", "phone": "+81312345678", "email": "taro.yamada@example.jp"}


def _phone(rng: random.Random, taken: set[str]) -> str:
    """A valid Japanese number from known-good patterns (mobile 090/080/070, Tokyo 03)."""
    while True:
        prefix = rng.choice(["090", "080", "070", "090", "03"])
        if prefix == "03":
            raw = f"03-{rng.randint(1, 9)}{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}"
        else:
            raw = f"{prefix}-{rng.randint(1, 9)}{rng.randint(0, 999):03d}-{rng.randint(0, 9999):04d}"
        value = phone_or_none(raw)
        if value and value not in taken:
            taken.add(value)
            return value


def _segment(rng: random.Random):
    roll, total = rng.random(), 0.0
    for segment in SEGMENTS:
        total += segment[1]
        if roll < total:
            return segment
    return SEGMENTS[-1]


def seed(customer_count: int) -> list[str]:
    """Create ``customer_count`` demo customers (with histories) and rank them."""
    if customer_count <= 0:
        return []
    fake = Faker("ja_JP")
    fake.seed_instance(20261122)
    rng = random.Random(20261122)
    now = utcnow()
    taken = set(db.session.scalars(select(CustomerIdentity.value)))
    customers: list[tuple[Customer, tuple]] = []
    if WELL_KNOWN["phone"] not in taken and WELL_KNOWN["email"] not in taken:
        known = Customer(name=WELL_KNOWN["name"], name_kana=WELL_KNOWN["kana"], company="株式会社つなぐ商事",
                         address="〒100-0005 東京都千代田区丸の内1丁目1番1号", dm_opt_in=True, tags=["定期購入"],
                         birthday=(now - timedelta(days=365 * 45)).date())
        known.identities += [CustomerIdentity(kind="phone", value=WELL_KNOWN["phone"]),
                             CustomerIdentity(kind="email", value=WELL_KNOWN["email"])]
        taken |= {WELL_KNOWN["phone"], WELL_KNOWN["email"]}
        customers.append((known, SEGMENTS[1]))
    while len(customers) < customer_count:
        last, last_kana, last_roman = fake.last_name_pair()
        first, first_kana, first_roman = fake.first_name_pair()
        customer = Customer(
            name=f"{last} {first}", name_kana=f"{last_kana} {first_kana}",
            company=fake.company() if rng.random() < 0.35 else None,
            address=f"〒{fake.postcode()} {fake.address()}", birthday=fake.date_of_birth(minimum_age=20, maximum_age=85),
            dm_opt_in=rng.random() < 0.6, tags=sorted(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2]))))
        customer.identities.append(CustomerIdentity(kind="phone", value=_phone(rng, taken)))
        if rng.random() < 0.25:
            customer.identities.append(CustomerIdentity(kind="phone", value=_phone(rng, taken)))
        if rng.random() < 0.8:
            domain = rng.choice(["example.jp", "example.com", "example.co.jp", "example.ne.jp"])
            email = f"{first_roman.lower()}.{last_roman.lower()}{rng.randint(1, 999)}@{domain}"
            if email not in taken:
                taken.add(email)
                customer.identities.append(CustomerIdentity(kind="email", value=email))
        customers.append((customer, _segment(rng)))
    # A few people registered twice (another phone, no email): the profile suggests a merge.
    for original, _ in customers[1:4] if len(customers) > 8 else []:
        twin = Customer(name=original.name, name_kana=original.name_kana, address=original.address,
                        birthday=original.birthday)
        twin.identities.append(CustomerIdentity(kind="phone", value=_phone(rng, taken)))
        customers.append((twin, SEGMENTS[4]))
    db.session.add_all([c for c, _ in customers])
    db.session.flush()
    purchases: list[Purchase] = []
    notes: list[dict] = []
    for customer, (_, _, count_range, last_range, factor) in customers:
        count = rng.randint(*count_range)
        if count:
            newest = rng.randint(*last_range)
            days = sorted({newest} | {rng.randint(newest, newest + 360) for _ in range(count - 1)})
            for day in days:
                product, price = rng.choice(PRODUCTS)
                quantity = rng.choice([1, 1, 1, 2, 3]) if price < 8000 else 1
                amount = int(price * quantity * factor * rng.uniform(0.8, 1.3)) // 10 * 10
                purchases.append(Purchase(customer_id=customer.id, product=product, quantity=quantity, amount=amount,
                                          purchased_at=now - timedelta(days=day, hours=rng.randint(0, 12))))
        if rng.random() < 0.3:
            notes.append({"customer_id": customer.id, "kind": "note", "occurred_at": now - timedelta(days=rng.randint(1, 90)),
                          "summary": rng.choice(["お届け日の変更希望あり（午前指定）", "請求書払いを希望。経理部宛に送付。",
                                                 "前回の商品に満足との声。次回ギフト用を検討中。",
                                                 "電話は平日18時以降が繋がりやすい。"]), "detail": {}})
    db.session.add_all(purchases)
    db.session.flush()
    timeline_rows = [{"customer_id": p.customer_id, "kind": "purchase", "occurred_at": p.purchased_at,
                      "summary": purchase_summary(p), "ref": f"purchase:{p.id}",
                      "detail": {"purchase_id": p.id, "amount": p.amount, "quantity": p.quantity}} for p in purchases]
    if timeline_rows + notes:
        db.session.execute(insert(Interaction), timeline_rows + notes)
    summary = rfm.recompute()
    ranks = rfm.distribution()["ranks"]
    db.session.flush()
    return [f"Demo customers: {len(customers)} with {len(purchases)} purchases "
            f"({', '.join(f'{k} {v}' for k, v in ranks.items())}); RFM in {summary['duration_s']} s",
            f"  e.g. {WELL_KNOWN['name']} — 03-1234-5678 / {WELL_KNOWN['email']}"]
