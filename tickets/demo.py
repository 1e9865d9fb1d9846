"""Demo data for the tickets package (called by `flask demo`): shared macros and a few
dozen realistic tickets for the demo customers, in every status, some assigned."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from core.db import utcnow
from extensions import db

MACROS = [
    ("お問い合わせ御礼", "{{customer.name}} 様\n\nお問い合わせいただきありがとうございます。担当の{{operator.name}}です。\n"
     "内容を確認のうえ、改めてご連絡いたします。\n\n（お問い合わせ番号: #{{ticket.id}}）", None, ["受付"]),
    ("発送済みのご連絡", "{{customer.name}} 様\n\nご注文の商品は本日**発送いたしました**。到着まで今しばらくお待ちください。\n"
     "ほかにご不明な点がございましたら、このメールにご返信ください。", "pending", ["配送"]),
    ("解決のご確認", "{{customer.name}} 様\n\nこの度はご不便をおかけいたしました。本件は解決済みとさせていただきます。\n"
     "再度ご不明な点がございましたら、お気軽にご返信ください。", "solved", []),
    ("Thank you (English)", "Dear {{customer.name}},\n\nThank you for contacting us. This is {{operator.name}}; "
     "we will get back to you shortly (ticket #{{ticket.id}}).", None, ["english"]),
]
SUBJECTS = [
    ("商品がまだ届きません", "先週注文した商品がまだ届いていません。配送状況を教えていただけますか。", "email"),
    ("返品の手続きについて", "サイズが合わなかったため返品したいのですが、手続きを教えてください。", "email"),
    ("請求金額が違うようです", "今月の請求書の金額が注文内容と合っていないように思います。", "phone"),
    ("定期便の配送日を変更したい", "次回の定期便を一週間後ろにずらすことはできますか。", "web"),
    ("ギフト包装の依頼", "母の日の贈り物なので、ギフト包装とメッセージカードをお願いしたいです。", "chat"),
    ("破損していました", "届いたマグカップの取っ手が欠けていました。交換をお願いします。", "email"),
    ("ポイントが反映されていません", "前回の購入分のポイントがまだ付与されていないようです。", "web"),
    ("領収書の発行", "会社の経費精算のため、宛名入りの領収書を発行していただけますか。", "email"),
    ("パスワードを忘れました", "会員サイトにログインできません。再設定の方法を教えてください。", "phone"),
    ("在庫の再入荷予定", "南部鉄器の急須はいつ頃再入荷の予定でしょうか。", "email"),
]
STATUSES = ["new", "new", "open", "open", "open", "pending", "on_hold", "solved", "closed"]


def seed(customer_count: int) -> list[str]:
    """Shared macros, and tickets for existing demo customers (if the customers demo made any)."""
    from accounts.models import User
    from core.sanitize import render_markdown
    from customers.models import Customer
    from tickets import service
    from tickets.models import Macro, Message, Ticket

    lines = []
    if not db.session.scalar(select(func.count()).select_from(Macro)):
        for name, body, status, tags in MACROS:
            db.session.add(Macro(name=name, body=body, kind="reply", set_status=status, add_tags=tags))
        lines.append(f"  {len(MACROS)} shared macros")
    if db.session.scalar(select(func.count()).select_from(Ticket)):
        return lines
    db.session.expire_all()  # ranks were computed in SQL by the customers demo
    customers = list(db.session.scalars(select(Customer).where(Customer.merged_into_id.is_(None))
                                        .order_by(Customer.id).limit(max(1, min(40, customer_count // 5)))))
    if not customers:
        return lines
    operators = [u for u in db.session.scalars(select(User).where(User.active.is_(True))) if u.has_role("operator")]
    rng = random.Random(4)
    now = utcnow()
    count = 0
    for index, customer in enumerate(customers):
        subject, body, channel = SUBJECTS[index % len(SUBJECTS)]
        created = now - timedelta(hours=rng.randint(1, 96), minutes=rng.randint(0, 59))
        ticket = service.open_ticket(customer, subject=subject, channel=channel,
                                     priority=rng.choice(["low", "normal", "normal", "high", "urgent"]), now=created)
        service.add_inbound(ticket, body=body, html=None, announce=False, now=created,
                            from_address=(customer.emails[0] if customer.emails and channel == "email" else None),
                            from_name=customer.name)
        status = STATUSES[index % len(STATUSES)]
        if status != "new" and operators:
            operator = rng.choice(operators)
            ticket.assignee_id = operator.id
            reply_at = created + timedelta(minutes=rng.randint(5, 120))
            service.sla.mark_met(ticket, reply_at, first_response=True)
            text = f"{customer.name} 様\n\nお問い合わせありがとうございます。担当の{operator.display_name}です。確認いたします。"
            db.session.add(Message(ticket_id=ticket.id, kind="reply", body=text, html=render_markdown(text),
                                   author_id=operator.id, created_at=reply_at,
                                   delivery="not_sent" if channel == "email" else None,
                                   last_error="demo data" if channel == "email" else None))
            service.change_status(ticket, status if status != "new" else "open", operator, now=reply_at)
            ticket.version += 1
        count += 1
    db.session.flush()
    lines.append(f"  {count} demo tickets")
    return lines
