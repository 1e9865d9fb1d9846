"""A living console for demos and load: PBX calls through the real CTI webhook and mail
through the real SMTP listener, from demo customers (and unknown or anonymous callers)."""
from __future__ import annotations

import random
import smtplib
import threading
import time
import uuid
from email.message import EmailMessage

import requests

SUBJECTS = [("注文した商品が届きません", "先週注文した商品がまだ届いていません。配送状況を教えてください。"),
            ("請求書の再発行について", "先月分の請求書を再発行していただけますか。"),
            ("返品したいです", "サイズが合わなかったので返品の手続きを教えてください。"),
            ("パスワードを忘れました", "ログインできません。パスワードの再設定方法を教えてください。"),
            ("プラン変更の相談", "上位プランへの変更を検討しています。料金を教えてください。"),
            ("Question about my invoice", "Could you explain the second line of my latest invoice?")]


class Simulator:
    def __init__(self, base_url: str, cti_token: str, smtp: tuple[str, int] | None, mail_domain: str,
                 people: list[dict], *, talk_scale: float = 1.0, seed: int | None = None, log=print):
        self.base_url, self.token, self.smtp, self.mail_domain = base_url.rstrip("/"), cti_token, smtp, mail_domain
        self.people, self.talk_scale, self.log = people, talk_scale, log
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.http = requests.Session()
        self.counts = {"calls": 0, "answered": 0, "missed": 0, "queued": 0, "mails": 0, "errors": 0}

    def _event(self, **data) -> dict:
        response = self.http.post(f"{self.base_url}/api/v1/cti/{self.token}", data=data, timeout=10)
        response.raise_for_status()
        return response.json()

    def _caller(self) -> str:
        roll = self.rng.random()
        if roll < 0.05:
            return "anonymous"
        if roll < 0.2 or not self.people:
            return f"090{self.rng.randint(1, 9)}{self.rng.randint(0, 999):03d}{self.rng.randint(0, 9999):04d}"
        phones = [p for p in self.rng.choice(self.people)["phones"]]
        return phones[0].replace("+81", "0") if phones else "anonymous"

    def call(self) -> None:
        call_id = f"sim-{uuid.uuid4().hex[:12]}"
        caller = self._caller()
        try:
            answer = self._event(event="newCall", direction="in", callId=call_id, to="0500000000",
                                 **{"from": caller})
            self.counts["calls"] += 1
            waited = 0.0
            while answer.get("action") == "queue" and waited < 60 * self.talk_scale and not self.stop.is_set():
                time.sleep(2)
                waited += 2
                answer = self._event(event="newCall", direction="in", callId=call_id, to="0500000000",
                                     **{"from": caller})
            if answer.get("action") == "reject":
                return
            if answer.get("action") != "dial" or self.rng.random() < 0.15:
                self.counts["missed"] += 1
                time.sleep(self.rng.uniform(2, 6) * self.talk_scale)
                self._event(event="hangup", callId=call_id, cause=self.rng.choice(["cancel", "noAnswer"]))
                return
            time.sleep(self.rng.uniform(2, 5) * self.talk_scale)  # ringing
            self._event(event="answer", callId=call_id, user=answer["user"], direction="in")
            self.counts["answered"] += 1
            time.sleep(self.rng.uniform(15, 90) * self.talk_scale)  # talking
            self._event(event="hangup", callId=call_id, cause="normalClearing")
        except requests.RequestException as error:
            self.counts["errors"] += 1
            self.log(f"call {call_id}: {error}")

    def mail(self) -> None:
        if self.smtp is None:
            return
        person = self.rng.choice(self.people) if self.people and self.rng.random() > 0.2 else None
        sender = person["emails"][0] if person and person["emails"] else f"guest{self.rng.randint(1, 9999)}@example.net"
        subject, body = self.rng.choice(SUBJECTS)
        message = EmailMessage()
        message["From"] = f"{person['name'] if person else 'お客様'} <{sender}>"
        message["To"] = f"support@{self.mail_domain}"
        message["Subject"] = subject
        message["Message-ID"] = f"<sim-{uuid.uuid4().hex}@example.net>"
        message.set_content(body + "\n\nよろしくお願いいたします。")
        try:
            with smtplib.SMTP(*self.smtp, timeout=10) as client:
                client.send_message(message)
            self.counts["mails"] += 1
        except (OSError, smtplib.SMTPException) as error:
            self.counts["errors"] += 1
            self.log(f"mail from {sender}: {error}")

    def _every(self, per_minute: float, action) -> None:
        if per_minute <= 0:
            return
        while not self.stop.is_set():
            threading.Thread(target=action, daemon=True).start()
            self.stop.wait(self.rng.expovariate(per_minute / 60.0))

    def run(self, calls_per_minute: float, mails_per_minute: float, duration_s: float | None = None) -> dict:
        threads = [threading.Thread(target=self._every, args=(calls_per_minute, self.call), daemon=True),
                   threading.Thread(target=self._every, args=(mails_per_minute, self.mail), daemon=True)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        try:
            while not self.stop.is_set():
                time.sleep(5)
                self.log(f"{int(time.monotonic() - started)} s: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
                if duration_s is not None and time.monotonic() - started >= duration_s:
                    break
        except KeyboardInterrupt:
            pass
        self.stop.set()
        return self.counts


def demo_people(limit: int = 500) -> list[dict]:
    """Customers with phones or emails to act as callers and senders."""
    from sqlalchemy import select

    from customers.models import Customer
    from extensions import db

    rows = db.session.scalars(select(Customer).where(Customer.merged_into_id.is_(None)).limit(limit)).all()
    return [{"name": c.name, "phones": c.phones, "emails": c.emails} for c in rows if c.phones or c.emails]
